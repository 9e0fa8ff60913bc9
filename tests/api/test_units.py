"""Small pieces: period parsing and the one threshold rule (qbr_app.threshold_status)."""

from __future__ import annotations

import pytest

from qbr import db
from qbr.periods import PeriodError as ApiError  # the core error, answered 400 INVALID_PERIOD
from qbr.periods import parse_month, parse_quarter, parse_range, prior_year, quarter_months


@pytest.mark.parametrize("good", ["2025-01", "2025-12", "1999-07", "2999-12"])
def test_months_accepted(good):
    assert parse_month(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "2025-13",
        "2025-00",
        "2025-1",
        "202501",
        "1899-01",
        "3000-01",
        "2025-01 ",
        "",
        None,
        "２０２５-01",
    ],
)
def test_months_rejected(bad):
    with pytest.raises(ApiError) as exc:
        parse_month(bad)
    assert exc.value.status == 400 and exc.value.error_code == "INVALID_PERIOD"


@pytest.mark.parametrize("bad", ["2025-Q0", "2025-Q5", "2025-q1", "2025Q1", "2025-01"])
def test_quarters_rejected(bad):
    with pytest.raises(ApiError):
        parse_quarter(bad)


def test_ranges():
    assert parse_range(None, None, None, quarterly=False) is None
    assert parse_range("2025-02", None, None, quarterly=False) == ("2025-02", "2025-02")
    assert parse_range(None, "2024-Q4", "2025-Q1", quarterly=True) == ("2024-Q4", "2025-Q1")
    with pytest.raises(ApiError):
        parse_range(None, "2025-Q2", "2025-Q1", quarterly=True)
    assert quarter_months("2025-Q4") == ["2025-10", "2025-11", "2025-12"]
    assert prior_year("2025-Q1") == "2024-Q1" and prior_year("2025-03") == "2024-03"


# value, direction, green_min, green_max, yellow_min, yellow_max, expected
# (the rule of dbt_project/macros/threshold_status.sql, which colours the marts)
CASES = [
    # higher_is_better: short form {"warning": 150, "critical": 100}
    (200, "higher_is_better", 150, None, 100, None, "green"),
    (150, "higher_is_better", 150, None, 100, None, "green"),
    (120, "higher_is_better", 150, None, 100, None, "yellow"),
    (100, "higher_is_better", 150, None, 100, None, "yellow"),
    (99, "higher_is_better", 150, None, 100, None, "red"),
    (99, "higher_is_better", 150, None, None, None, "red"),
    (99, "higher_is_better", None, 150, 50, None, "yellow"),  # no green_min: never green
    # a green range with higher_is_better: above the range is still green
    (90000, "higher_is_better", 50000, 80000, 40000, None, "green"),
    # lower_is_better: short form {"warning": 0.25, "critical": 0.3}
    (0.05, "lower_is_better", None, 0.25, None, 0.3, "green"),
    (0.25, "lower_is_better", None, 0.25, None, 0.3, "green"),
    (0.28, "lower_is_better", None, 0.25, None, 0.3, "yellow"),
    (0.31, "lower_is_better", None, 0.25, None, 0.3, "red"),
    # in_range
    (1.0, "in_range", 0.95, 1.05, 0.9, 1.1, "green"),
    (0.92, "in_range", 0.95, 1.05, 0.9, 1.1, "yellow"),
    (1.2, "in_range", 0.95, 1.05, 0.9, 1.1, "red"),
    (75, "in_range", 40, 60, None, None, "yellow"),  # as the dbt macro: no yellow bound = open
    (65, "in_range", 40, 60, 30, None, "yellow"),  # open yellow top
    (None, "in_range", 40, 60, 30, 70, None),
    (50, None, 40, 60, 30, 70, None),
]


def test_threshold_status_rule(marts_settings):
    with db.connect(marts_settings) as conn:
        for value, direction, gmin, gmax, ymin, ymax, expected in CASES:
            got = conn.execute(
                "select qbr_app.threshold_status(%s::numeric, %s, %s::numeric, %s::numeric, "
                "%s::numeric, %s::numeric)",
                (value, direction, gmin, gmax, ymin, ymax),
            ).fetchone()[0]
            assert got == expected, (value, direction, gmin, gmax, ymin, ymax)


def test_optional_filters_are_written_in_only_when_given():
    """A catch-all `(%(keys)s is null or ...)` let the generic plan of the prepared
    monthly statement recompute the metrics_monthly view once per metric (100 ms
    instead of 7 ms at `large`): the filters are spelled out or left out."""
    from api.views.metrics import MONTHLY_SQL, SMARTNUMBERS_SQL, filtered

    for sql in (MONTHLY_SQL, SMARTNUMBERS_SQL):
        assert "is null or" not in sql
    bare = filtered(MONTHLY_SQL, "m.", None, None)
    assert "{filters}" not in bare
    assert "%(keys)s" not in bare and "%(source)s" not in bare
    keys = filtered(MONTHLY_SQL, "m.", ["employees"], None)
    assert "m.metric_key = any(%(keys)s::text[])" in keys and "%(source)s" not in keys
    both = filtered(MONTHLY_SQL, "m.", ["employees"], "quickbooks")
    assert "lower(m.source) = %(source)s::text" in both and "%(keys)s" in both


def test_monthly_answers_stay_the_same_once_the_statement_is_prepared(marts_settings, keys):
    """psycopg prepares a statement after its fifth run on a connection: the answers
    before and after (custom and generic plans, one pooled connection) are the same."""
    from tests.api.conftest import SpecClient, _make_app

    app = _make_app(marts_settings, POOL_MAX_SIZE=1)
    try:
        client = SpecClient(app, {"X-API-Key": keys["read"]})
        paths = [
            "/api/qbr/metrics/monthly",
            "/api/qbr/metrics/monthly?metric=employees,technical_employees",
            "/api/qbr/metrics/monthly?source=quickbooks",
        ]
        first = {p: client.get(p).get_json() for p in paths}
        assert all(first[p]["metrics"] for p in paths)
        assert {m["key"] for m in first[paths[1]]["metrics"]} == {
            "employees",
            "technical_employees",
        }
        assert {m["source"].lower() for m in first[paths[2]]["metrics"]} == {"quickbooks"}
        for _ in range(7):
            for p in paths:
                assert client.get(p).get_json() == first[p]
    finally:
        app.extensions["qbr_pool"].close()
