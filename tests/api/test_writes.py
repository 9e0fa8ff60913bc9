"""Writes: thresholds, manual entries and starting a refresh; effects checked on the next read."""

from __future__ import annotations

import pytest

import qbr.refresh
from qbr import db

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


def test_short_form_by_name_infers_higher_is_better(clients):
    admin, reader, _ = clients
    r = admin.post(
        f"{API}/thresholds",
        json={"metric": "Reactive Tickets Closed", "warning": 150, "critical": 100},
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
        150,
        None,
        100,
        None,
    )
    # shows on the next read: Feb 130 closed -> yellow, Jan 90 -> red, Q1 305 -> green
    monthly = "/metrics/monthly?period={}&metric=reactive_tickets_closed"
    assert (
        status_of(reader, monthly.format("2025-02"), "reactive_tickets_closed")["status"]
        == "yellow"
    )
    assert (
        status_of(reader, monthly.format("2025-01"), "reactive_tickets_closed")["status"] == "red"
    )
    q = status_of(reader, "/metrics/quarterly?period=2025-Q1", "reactive_tickets_closed")
    assert q["status"] == "green"
    listed = {x["metric"]: x for x in reader.get(f"{API}/thresholds").get_json()["thresholds"]}
    assert listed["reactive_tickets_closed"]["origin"] == "custom"
    # posting again replaces it
    again = admin.post(
        f"{API}/thresholds",
        json={"metric": "reactive_tickets_closed", "warning": 160, "critical": 90},
    )
    assert again.status_code == 200 and again.get_json()["created"] is False


def test_short_form_lower_is_better_then_delete_back_to_default(clients):
    admin, reader, _ = clients
    smart = "/smartnumbers?period=2025-Q1"
    assert status_of(reader, smart, "rhem")["status"] == "yellow"  # default: green <= 0.20
    r = admin.post(f"{API}/thresholds", json={"metric": "rhem", "warning": 0.25, "critical": 0.3})
    t = r.get_json()["threshold"]
    assert (t["direction"], t["green_max"], t["yellow_max"]) == ("lower_is_better", 0.25, 0.3)
    assert t["green_min"] is None and t["yellow_min"] is None
    sn = status_of(reader, smart, "rhem")
    assert sn["status"] == "green" and sn["threshold"]["origin"] == "custom"
    d = admin.delete(f"{API}/thresholds/rhem")
    assert d.status_code == 200
    assert d.get_json()["threshold"]["origin"] == "default"
    assert status_of(reader, smart, "rhem")["status"] == "yellow"
    again = admin.delete(f"{API}/thresholds/rhem")
    assert again.status_code == 404 and again.get_json()["error_code"] == "THRESHOLD_NOT_FOUND"


def test_band_form_and_put(clients):
    admin, reader, _ = clients
    r = admin.post(
        f"{API}/thresholds",
        json={
            "metric": "total_close_pct",
            "direction": "in_range",
            "green_min": 0.9,
            "green_max": 1.0,
            "yellow_min": 0.85,
            "yellow_max": 1.02,
            "notes": "tighter",
        },
    )
    assert r.status_code == 201 and r.get_json()["threshold"]["notes"] == "tighter"
    assert status_of(reader, "/smartnumbers", "total_close_pct")["status"] == "yellow"  # 1.0167
    put = admin.put(
        f"{API}/thresholds/total_close_pct",
        json={"direction": "in_range", "green_min": 1.0, "green_max": 1.1},
    )
    assert put.status_code == 200
    assert status_of(reader, "/smartnumbers", "total_close_pct")["status"] == "green"
    mismatch = admin.put(
        f"{API}/thresholds/rhem", json={"metric": "mrr", "warning": 1, "critical": 0}
    )
    assert mismatch.status_code == 400 and mismatch.get_json()["error_code"] == "METRIC_MISMATCH"
    assert admin.get(f"{API}/thresholds/total_close_pct").get_json()["green_min"] == 1.0


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


def test_manual_only_metric_newest_wins_with_history(clients):
    admin, reader, _ = clients
    r = manual(admin, "2025-01", {"metric": "# of Employees", "value": 10, "notes": "new hire"})
    assert r.status_code == 201
    (saved,) = r.get_json()["saved"]
    assert saved["metric"] == "employees" and saved["previous_value"] == 8.5
    assert saved["collected_value"] is None and saved["forced"] is False
    item = status_of(reader, "/metrics/monthly?period=2025-01&metric=employees", "employees")
    assert (item["value"], item["data_source"], item["manual_value"]) == (10, "manual", 10)
    history = reader.get(f"{API}/metrics/manual?period=2025-01&metric=employees").get_json()
    assert [(e["value"], e["is_current"]) for e in history["entries"]] == [(10, True), (8.5, False)]
    assert history["entries"][0]["notes"] == "new hire"


def test_manual_entry_changes_smartnumber_on_next_read(clients):
    admin, reader, _ = clients
    manual(admin, "2025-02", {"metric": "technical_employees", "value": 6})
    tpt = status_of(reader, "/smartnumbers?period=2025-Q1", "tickets_per_tech_per_month")
    assert tpt["value"] == pytest.approx(305 / 5 / 3)  # avg(4, 6, 5) = 5
    assert tpt["inputs"]["technical_employees"] == 5


def test_overriding_collected_value_needs_force_and_delete_reverts(clients):
    admin, reader, settings = clients
    r = manual(admin, "2025-01", {"metric": "reactive_tickets_created", "value": 110})
    assert r.status_code == 409
    body = r.get_json()
    assert body["error_code"] == "COLLECTED_VALUE" and body["metrics"] == [
        "reactive_tickets_created"
    ]
    assert "reactive_tickets_created (100)" in body["error"]
    r = manual(admin, "2025-01", {"metric": "reactive_tickets_created", "value": 110}, force=True)
    assert r.status_code == 201
    saved = r.get_json()["saved"][0]
    assert saved["forced"] is True and saved["collected_value"] == 100
    item = status_of(reader, "/metrics/monthly?period=2025-01", "reactive_tickets_created")
    assert (item["value"], item["collected_value"], item["data_source"]) == (110, 100, "manual")
    q = status_of(reader, "/metrics/quarterly?period=2025-Q1", "reactive_tickets_created")
    assert q["value"] == 310 and q["data_source"] == "mixed"
    close = status_of(reader, "/smartnumbers?period=2025-Q1", "total_close_pct")
    assert close["value"] == pytest.approx(305 / 310)

    d = admin.delete(f"{API}/metrics/manual?period=2025-01&metric=reactive_tickets_created")
    assert d.status_code == 200
    assert d.get_json()["reverted"] == [
        {"metric": "reactive_tickets_created", "value": 100, "collected_value": 100}
    ]
    item = status_of(reader, "/metrics/monthly?period=2025-01", "reactive_tickets_created")
    assert (item["value"], item["data_source"]) == (100, "collected")
    again = admin.delete(f"{API}/metrics/manual?period=2025-01&metric=reactive_tickets_created")
    assert again.status_code == 404 and again.get_json()["error_code"] == "NO_MANUAL_VALUE"
    with db.connect(settings) as conn:
        actions = conn.execute(
            "select action, forced from qbr_app.manual_metrics "
            "where metric_key = 'reactive_tickets_created' order by id"
        ).fetchall()
    assert actions == [("set", True), ("revert", False)]


def test_manual_batch_is_all_or_nothing(clients):
    admin, reader, _ = clients
    r = manual(
        admin,
        "2025-03",
        {"metric": "cash_reserve", "value": 1},
        {"metric": "mrr", "value": 5},
    )
    assert r.status_code == 409
    item = status_of(reader, "/metrics/monthly?period=2025-03&metric=cash_reserve", "cash_reserve")
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
def test_manual_rejections(clients, items, status, code):
    admin, _, _ = clients
    r = manual(admin, "2025-01", *items)
    assert r.status_code == status and r.get_json()["error_code"] == code


def test_manual_negative_dollars_allowed_and_unknown_period(clients):
    admin, _, _ = clients
    assert manual(admin, "2025-02", {"metric": "cash_reserve", "value": -2500.5}).status_code == 201
    r = manual(admin, "2026-01", {"metric": "employees", "value": 1})
    assert r.status_code == 404 and r.get_json()["error_code"] == "PERIOD_NOT_FOUND"


def test_manual_delete_needs_period_and_metric(clients):
    admin, _, _ = clients
    r = admin.delete(f"{API}/metrics/manual?period=2025-01")
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
