"""Writes: thresholds, manual entries and starting a refresh; effects checked on the next read.

Over a copy of the real marts; values and periods as tests/api/world.py derives them.
"""

from __future__ import annotations

import pytest

import qbr.refresh
from qbr import db
from tests.api.world import add_months, band, default_thresholds, quarter_months

API = "/api/qbr"


@pytest.fixture(scope="module")
def clients(make_api):
    """One fresh database for this module's writes: (admin, reader, settings)."""
    return make_api()


def status_of(reader, path: str, key: str):
    body = reader.get(API + path).get_json()
    items = body.get("metrics") or body.get("smartnumbers")
    return next(i for i in items if i["key"] == key)


# --- thresholds ------------------------------------------------------------------------


def test_short_form_by_name_infers_higher_is_better(clients, world):
    admin, reader, _ = clients
    q = world.quarter
    closed = {p: world.value(p, "reactive_tickets_closed") for p in quarter_months(q)}
    low, high = min(closed, key=closed.get), max(closed, key=closed.get)
    assert closed[low] < closed[high]
    # green from one above the best month, yellow from one above the worst
    warning, critical = closed[high] + 1, closed[low] + 1
    r = admin.post(
        f"{API}/thresholds",
        json={"metric": "Reactive Tickets Closed", "warning": warning, "critical": critical},
    )
    assert r.status_code == 201
    body = r.get_json()
    assert body["created"] is True
    t = body["threshold"]
    assert (t["metric"], t["direction"], t["origin"], t["updated_by"]) == (
        "reactive_tickets_closed",
        "higher_is_better",
        "custom",
        "writer",
    )
    assert (t["green_min"], t["green_max"], t["yellow_min"], t["yellow_max"]) == (
        warning,
        None,
        critical,
        None,
    )
    # shows on the next read: the best month yellow, the worst red, the quarter (the
    # three months' sum) green
    monthly = "/metrics/monthly?period={}&metric=reactive_tickets_closed"
    assert status_of(reader, monthly.format(high), "reactive_tickets_closed")["status"] == "yellow"
    assert status_of(reader, monthly.format(low), "reactive_tickets_closed")["status"] == "red"
    assert world.quarter_sum(q, "reactive_tickets_closed") >= warning
    q_item = status_of(reader, f"/metrics/quarterly?period={q}", "reactive_tickets_closed")
    assert q_item["status"] == "green"
    listed = {x["metric"]: x for x in reader.get(f"{API}/thresholds").get_json()["thresholds"]}
    assert listed["reactive_tickets_closed"]["origin"] == "custom"
    # posting again replaces it
    again = admin.post(
        f"{API}/thresholds",
        json={"metric": "reactive_tickets_closed", "warning": warning + 10, "critical": critical},
    )
    assert again.status_code == 200 and again.get_json()["created"] is False


def test_short_form_lower_is_better_then_delete_back_to_default(clients, world):
    admin, reader, _ = clients
    smart = f"/smartnumbers?period={world.quarter}"
    rhem = world.smart(world.quarter)["rhem"]
    default = band(rhem, default_thresholds()["rhem"])
    assert default != "green"  # so the custom threshold below shows
    assert status_of(reader, smart, "rhem")["status"] == default
    warning, critical = round(rhem + 0.05, 2), round(rhem + 0.1, 2)  # green up to warning
    r = admin.post(
        f"{API}/thresholds", json={"metric": "rhem", "warning": warning, "critical": critical}
    )
    t = r.get_json()["threshold"]
    assert (t["direction"], t["green_max"], t["yellow_max"]) == (
        "lower_is_better",
        warning,
        critical,
    )
    assert t["green_min"] is None and t["yellow_min"] is None
    sn = status_of(reader, smart, "rhem")
    assert sn["status"] == "green" and sn["threshold"]["origin"] == "custom"
    d = admin.delete(f"{API}/thresholds/rhem")
    assert d.status_code == 200
    assert d.get_json()["threshold"]["origin"] == "default"
    assert status_of(reader, smart, "rhem")["status"] == default
    again = admin.delete(f"{API}/thresholds/rhem")
    assert again.status_code == 404 and again.get_json()["error_code"] == "THRESHOLD_NOT_FOUND"


def test_band_form_and_put(clients, world):
    admin, reader, _ = clients
    close = world.smart(world.quarter)["total_close_pct"]
    v = round(close, 3)
    # the value sits below the green band but inside the yellow one
    r = admin.post(
        f"{API}/thresholds",
        json={
            "metric": "total_close_pct",
            "direction": "in_range",
            "green_min": round(v + 0.01, 3),
            "green_max": round(v + 0.1, 3),
            "yellow_min": round(v - 0.01, 3),
            "yellow_max": round(v + 0.2, 3),
            "notes": "tighter",
        },
    )
    assert r.status_code == 201 and r.get_json()["threshold"]["notes"] == "tighter"
    assert status_of(reader, "/smartnumbers", "total_close_pct")["status"] == "yellow"
    green_min = round(v - 0.05, 3)
    put = admin.put(
        f"{API}/thresholds/total_close_pct",
        json={"direction": "in_range", "green_min": green_min, "green_max": round(v + 0.05, 3)},
    )
    assert put.status_code == 200
    assert status_of(reader, "/smartnumbers", "total_close_pct")["status"] == "green"
    mismatch = admin.put(
        f"{API}/thresholds/rhem", json={"metric": "mrr", "warning": 1, "critical": 0}
    )
    assert mismatch.status_code == 400 and mismatch.get_json()["error_code"] == "METRIC_MISMATCH"
    assert admin.get(f"{API}/thresholds/total_close_pct").get_json()["green_min"] == green_min


@pytest.mark.parametrize(
    "body",
    [
        {"metric": "rhem", "warning": 0.3, "critical": 0.2},  # rhem is lower_is_better
        {"metric": "total_close_pct", "warning": 1, "critical": 0.9},  # in_range: band form
        {"metric": "mrr", "warning": 5, "critical": 5},  # no direction known, none given
        {"metric": "mrr", "direction": "higher_is_better", "warning": 1, "critical": 5},
        {"metric": "mrr", "direction": "in_range", "green_min": 5, "green_max": 1},
        {"metric": "mrr", "direction": "higher_is_better", "green_max": 5},
        {"metric": "mrr", "direction": "lower_is_better", "green_min": 5},
        {"metric": "mrr", "direction": "higher_is_better", "green_min": 5, "yellow_min": 6},
        {"metric": "mrr", "direction": "lower_is_better", "green_max": 5, "yellow_max": 4},
        {"metric": "mrr", "direction": "in_range"},
    ],
)
def test_invalid_thresholds(clients, body):
    admin, _, _ = clients
    r = admin.post(f"{API}/thresholds", json=body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error_code"] == "INVALID_THRESHOLD"


def test_threshold_body_shape_and_unknown_metric(clients):
    admin, _, _ = clients
    both = {
        "metric": "mrr",
        "warning": 1,
        "critical": 0,
        "green_min": 1,
        "direction": "higher_is_better",
    }
    assert admin.post(f"{API}/thresholds", json=both).get_json()["error_code"] == "VALIDATION_ERROR"
    r = admin.post(f"{API}/thresholds", json={"metric": "churn", "warning": 1, "critical": 0})
    assert r.status_code == 404 and "mrr" in r.get_json()["valid_keys"]


# --- manual metrics --------------------------------------------------------------------


def manual(admin, period, *items, force=None):
    body = {"period": period, "metrics": [dict(i) for i in items]}
    if force is not None:
        body["force"] = force
    return admin.post(f"{API}/metrics/manual", json=body)


def test_manual_only_metric_newest_wins_with_history(clients, world):
    admin, reader, _ = clients
    m1 = quarter_months(world.quarter)[0]
    r = manual(admin, m1, {"metric": "# of Employees", "value": 10, "notes": "new hire"})
    assert r.status_code == 201
    (saved,) = r.get_json()["saved"]
    assert saved["metric"] == "employees" and saved["previous_value"] == 8.5
    assert saved["collected_value"] is None and saved["forced"] is False
    item = status_of(reader, f"/metrics/monthly?period={m1}&metric=employees", "employees")
    assert (item["value"], item["data_source"], item["manual_value"]) == (10, "manual", 10)
    history = reader.get(f"{API}/metrics/manual?period={m1}&metric=employees").get_json()
    assert [(e["value"], e["is_current"]) for e in history["entries"]] == [(10, True), (8.5, False)]
    assert history["entries"][0]["notes"] == "new hire"


def test_manual_entry_changes_smartnumber_on_next_read(clients, world):
    admin, reader, _ = clients
    q = world.quarter
    manual(admin, quarter_months(q)[1], {"metric": "technical_employees", "value": 6})
    tpt = status_of(reader, f"/smartnumbers?period={q}", "tickets_per_tech_per_month")
    closed = world.quarter_sum(q, "reactive_tickets_closed")
    assert tpt["value"] == pytest.approx(closed / 5 / 3)  # avg(4, 6, 5) = 5
    assert tpt["inputs"]["technical_employees"] == 5


def test_overriding_collected_value_needs_force_and_delete_reverts(clients, world):
    admin, reader, settings = clients
    q = world.quarter
    m1 = quarter_months(q)[0]
    collected = int(world.value(m1, "reactive_tickets_created"))
    created = world.quarter_sum(q, "reactive_tickets_created")
    closed = world.quarter_sum(q, "reactive_tickets_closed")
    entry = {"metric": "reactive_tickets_created", "value": collected + 10}
    r = manual(admin, m1, entry)
    assert r.status_code == 409
    body = r.get_json()
    assert body["error_code"] == "COLLECTED_VALUE" and body["metrics"] == [
        "reactive_tickets_created"
    ]
    assert f"reactive_tickets_created ({collected})" in body["error"]
    r = manual(admin, m1, entry, force=True)
    assert r.status_code == 201
    saved = r.get_json()["saved"][0]
    assert saved["forced"] is True and saved["collected_value"] == collected
    item = status_of(reader, f"/metrics/monthly?period={m1}", "reactive_tickets_created")
    assert (item["value"], item["collected_value"], item["data_source"]) == (
        collected + 10,
        collected,
        "manual",
    )
    q_item = status_of(reader, f"/metrics/quarterly?period={q}", "reactive_tickets_created")
    assert q_item["value"] == created + 10 and q_item["data_source"] == "mixed"
    close = status_of(reader, f"/smartnumbers?period={q}", "total_close_pct")
    assert close["value"] == pytest.approx(closed / (created + 10))

    d = admin.delete(f"{API}/metrics/manual?period={m1}&metric=reactive_tickets_created")
    assert d.status_code == 200
    assert d.get_json()["reverted"] == [
        {"metric": "reactive_tickets_created", "value": collected, "collected_value": collected}
    ]
    item = status_of(reader, f"/metrics/monthly?period={m1}", "reactive_tickets_created")
    assert (item["value"], item["data_source"]) == (collected, "collected")
    again = admin.delete(f"{API}/metrics/manual?period={m1}&metric=reactive_tickets_created")
    assert again.status_code == 404 and again.get_json()["error_code"] == "NO_MANUAL_VALUE"
    with db.connect(settings) as conn:
        actions = conn.execute(
            "select action, forced from qbr_app.manual_metrics "
            "where metric_key = 'reactive_tickets_created' order by id"
        ).fetchall()
    assert actions == [("set", True), ("revert", False)]


def test_manual_batch_is_all_or_nothing(clients, world):
    admin, reader, _ = clients
    m3 = quarter_months(world.quarter)[2]
    r = manual(
        admin,
        m3,
        {"metric": "cash_reserve", "value": 1},
        {"metric": "mrr", "value": 5},
    )
    assert r.status_code == 409
    item = status_of(reader, f"/metrics/monthly?period={m3}&metric=cash_reserve", "cash_reserve")
    assert item["value"] == 50000


@pytest.mark.parametrize(
    ("items", "status", "code"),
    [
        ([{"metric": "reactive_time_spent", "value": -1}], 400, "NEGATIVE_VALUE"),
        ([{"metric": "employees", "value": -0.5}], 400, "NEGATIVE_VALUE"),
        ([{"metric": "rhem", "value": 0.2}], 404, "METRIC_NOT_FOUND"),
        ([{"metric": "headcount", "value": 1}], 404, "METRIC_NOT_FOUND"),
        (
            [{"metric": "employees", "value": 1}, {"metric": "employees", "value": 2}],
            400,
            "DUPLICATE_METRIC",
        ),
    ],
)
def test_manual_rejections(clients, world, items, status, code):
    admin, _, _ = clients
    r = manual(admin, world.last_month, *items)
    assert r.status_code == status and r.get_json()["error_code"] == code


def test_manual_negative_dollars_allowed_and_unknown_period(clients, world):
    admin, _, _ = clients
    month = quarter_months(world.quarter)[1]
    assert manual(admin, month, {"metric": "cash_reserve", "value": -2500.5}).status_code == 201
    beyond = add_months(world.current_month, 2)  # not a period of the marts yet
    r = manual(admin, beyond, {"metric": "employees", "value": 1})
    assert r.status_code == 404 and r.get_json()["error_code"] == "PERIOD_NOT_FOUND"


def test_manual_delete_needs_period_and_metric(clients, world):
    admin, _, _ = clients
    r = admin.delete(f"{API}/metrics/manual?period={world.last_month}")
    assert r.status_code == 400 and r.get_json()["error_code"] == "MISSING_PARAMETER"


# --- refresh ---------------------------------------------------------------------------


class FakeBusy(Exception):
    def __init__(self, batch_id):
        super().__init__(batch_id)
        self.batch_id = batch_id


def test_refresh_start_busy_and_validation(clients, monkeypatch):
    admin, _, settings = clients
    calls = []

    def start_background(settings_, sources=None, since=None, full=False, requested_by=None):
        calls.append((settings_, sources, since, full, requested_by))
        return "bc_01JD00000000000000000000ZZ"

    monkeypatch.setattr(qbr.refresh, "start_background", start_background, raising=False)
    monkeypatch.setattr(qbr.refresh, "RefreshBusy", FakeBusy, raising=False)
    r = admin.post(
        f"{API}/refresh", json={"sources": ["connectwise"], "since": "2025-01", "full": True}
    )
    assert r.status_code == 202
    assert r.get_json() == {
        "batch_id": "bc_01JD00000000000000000000ZZ",
        "status": "queued",
        "status_url": f"{API}/refresh/bc_01JD00000000000000000000ZZ",
    }
    assert r.headers["Location"].endswith("/refresh/bc_01JD00000000000000000000ZZ")
    assert calls == [(settings, ["connectwise"], "2025-01", True, "writer")]
    # an empty POST (no body, no content type) means: everything configured
    assert admin.post(f"{API}/refresh").status_code == 202
    assert calls[-1][1:4] == (None, None, False)
    # an explicit empty list: no source, the build only
    assert admin.post(f"{API}/refresh", json={"sources": []}).status_code == 202
    assert calls[-1][1] == []
    assert admin.post(f"{API}/refresh", json={"sources": ["ninjaone"]}).status_code == 202

    def busy(*a, **k):
        raise FakeBusy("bc_01JD00000000000000000000YY")

    monkeypatch.setattr(qbr.refresh, "start_background", busy)
    r = admin.post(f"{API}/refresh", json={})
    assert r.status_code == 409
    assert r.get_json()["batch_id"] == "bc_01JD00000000000000000000YY"
    assert r.get_json()["error_code"] == "REFRESH_BUSY"

    def lock_held_elsewhere(*a, **k):
        raise FakeBusy(None)

    monkeypatch.setattr(qbr.refresh, "start_background", lock_held_elsewhere)
    r = admin.post(f"{API}/refresh", json={})
    assert r.status_code == 409 and "batch_id" not in r.get_json()

    class FakeOptionsError(ValueError):
        pass

    def bad_options(*a, **k):
        raise FakeOptionsError("--since is before the history start")

    monkeypatch.setattr(qbr.refresh, "RefreshOptionsError", FakeOptionsError, raising=False)
    monkeypatch.setattr(qbr.refresh, "start_background", bad_options)
    r = admin.post(f"{API}/refresh", json={"since": "2001-01"})
    assert r.status_code == 400 and r.get_json()["error_code"] == "INVALID_REFRESH_OPTIONS"

    assert admin.post(f"{API}/refresh", json={"sources": ["salesforce"]}).status_code == 400
    assert admin.post(f"{API}/refresh", json={"since": "2025-13"}).status_code == 400
    assert admin.post(f"{API}/refresh", json={"full": "yes"}).status_code == 400


def test_refresh_unavailable_without_start_background(clients, monkeypatch):
    admin, _, _ = clients
    monkeypatch.delattr(qbr.refresh, "start_background", raising=False)
    r = admin.post(f"{API}/refresh", json={})
    assert r.status_code == 503 and r.get_json()["error_code"] == "REFRESH_UNAVAILABLE"
