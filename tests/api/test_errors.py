"""Every error is the one JSON shape {"error", "code", "error_code"}: never HTML, never a trace.

The `reader`/`admin` clients validate each body against the Error schema and
check that `code` equals the HTTP status (tests/api/conftest.py).
"""

from __future__ import annotations

import pytest

from tests.api.world import catalogue

API = "/api/qbr"


@pytest.mark.parametrize(
    "query",
    [
        "period=2025-13",
        "period=2025-00",
        "period=2025-1",
        "period=25-01",
        "period=2025-Q1",  # a quarter where a month is expected
        "period=",
        "from=2025-03&to=2025-01",
        "from=2025-01",
        "to=2025-01",
        "period=2025-01&from=2025-01&to=2025-02",
        "from=2000-01&to=2025-01",  # longer than the 120-month cap
    ],
)
def test_monthly_invalid_periods(reader, query):
    r = reader.get(f"{API}/metrics/monthly?{query}")
    assert r.status_code == 400
    assert r.get_json()["error_code"] == "INVALID_PERIOD"


@pytest.mark.parametrize(
    "path",
    [
        "/metrics/quarterly?period=2025-Q5",
        "/metrics/quarterly?period=2025-Q0",
        "/metrics/quarterly?period=2025-01",
        "/metrics/quarterly?from=2025-Q2&to=2025-Q1",
        "/smartnumbers?period=2025Q1",
        "/export?period=2025-Q9",
        "/metrics/manual?period=2025-99",
    ],
)
def test_quarter_and_other_invalid_periods(reader, path):
    r = reader.get(API + path)
    assert r.status_code == 400 and r.get_json()["error_code"] == "INVALID_PERIOD"


def test_valid_but_absent_period_is_404(reader, world):
    r = reader.get(f"{API}/metrics/monthly?period=2019-01")
    assert r.status_code == 404
    body = r.get_json()
    assert body["error_code"] == "PERIOD_NOT_FOUND"
    assert f"{world.history_start} to {world.current_month}" in body["error"]
    assert reader.get(f"{API}/smartnumbers?period=2030-Q1").status_code == 404


def test_unknown_metric_names_valid_keys(reader):
    r = reader.get(f"{API}/metrics/monthly?period=2025-01&metric=tickets,rhem")
    assert r.status_code == 404
    body = r.get_json()
    assert body["error_code"] == "METRIC_NOT_FOUND"
    assert "'tickets'" in body["error"] and "reactive_tickets_created" in body["error"]
    assert "rhem" in body["valid_keys"] and len(body["valid_keys"]) == len(catalogue())
    assert reader.get(f"{API}/thresholds/nope").get_json()["error_code"] == "METRIC_NOT_FOUND"


def test_unknown_source_and_client(reader):
    r = reader.get(f"{API}/metrics/monthly?source=Salesforce")
    assert r.status_code == 400 and "ConnectWise" in r.get_json()["error"]
    r = reader.get(f"{API}/clients/999/metrics")
    assert r.status_code == 404 and r.get_json()["error_code"] == "CLIENT_NOT_FOUND"


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=ten", "offset=-1", "type=weekly", "include_internal=maybe"],
)
def test_invalid_parameters(reader, query):
    path = "/clients" if "internal" in query else "/periods"
    r = reader.get(f"{API}{path}?{query}")
    assert r.status_code == 400 and r.get_json()["error_code"] == "INVALID_PARAMETER"


def test_unknown_refresh_run(reader):
    r = reader.get(f"{API}/refresh/bc_01JD0000000000000000000099")
    assert r.status_code == 404 and r.get_json()["error_code"] == "REFRESH_NOT_FOUND"


def test_unknown_path_and_wrong_method(reader):
    r = reader.get(f"{API}/no/such/thing")
    assert r.status_code == 404 and r.get_json()["error_code"] == "NOT_FOUND"
    r = reader.put(f"{API}/smartnumbers")
    assert r.status_code == 405 and r.get_json()["error_code"] == "METHOD_NOT_ALLOWED"
    assert r.headers["Allow"] == "GET"
    r = reader.open("PATCH", f"{API}/metrics/manual")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST", "DELETE"}


def test_malformed_json(admin):
    r = admin.post(f"{API}/thresholds", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error_code"] == "MALFORMED_JSON"
    r = admin.post(f"{API}/thresholds", data='{"metric": NaN}', content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error_code"] == "MALFORMED_JSON"


def test_wrong_content_type(admin):
    r = admin.post(
        f"{API}/thresholds", data="metric=rhem", content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code == 415 and r.get_json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    r = admin.post(f"{API}/metrics/manual", data="{}", content_type="text/plain")
    assert r.status_code == 415


def test_body_too_large(admin):
    notes = "x" * (70 * 1024)
    r = admin.post(
        f"{API}/metrics/manual",
        json={
            "period": "2025-01",
            "metrics": [{"metric": "employees", "value": 1, "notes": notes}],
        },
    )
    assert r.status_code == 413 and r.get_json()["error_code"] == "PAYLOAD_TOO_LARGE"


def test_schema_violations(admin):
    cases = [
        {"period": "2025-01", "metrics": []},
        {"period": "2025-01", "metrics": [{"metric": "employees", "value": "8"}]},
        {"period": "2025-01", "metrics": [{"metric": "employees", "value": True}]},
        {"period": "2025-01", "metrics": [{"metric": "employees", "value": 1, "extra": 1}]},
        {"metrics": [{"metric": "employees", "value": 1}]},
        [1, 2],
    ]
    for body in cases:
        r = admin.post(f"{API}/metrics/manual", json=body)
        assert r.status_code == 400, body
        assert r.get_json()["error_code"] in ("VALIDATION_ERROR", "INVALID_PERIOD"), body
    r = admin.post(
        f"{API}/metrics/manual",
        json={"period": "2025-01", "metrics": [{"metric": "employees", "value": "8"}]},
    )
    assert "$.metrics[0].value" in r.get_json()["error"]


def test_unexpected_error_is_json_without_trace(app, reader, monkeypatch):
    from api.views import catalog

    def boom(conn):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(catalog, "definitions", boom)
    r = reader.get(f"{API}/metrics/definitions")
    assert r.status_code == 500
    body = r.get_json()
    assert body == {"error": "Internal server error.", "code": 500, "error_code": "INTERNAL_ERROR"}
    assert b"secret" not in r.data


def test_marts_missing_is_503(make_database):
    from api import create_app
    from qbr import apikeys
    from tests.api.conftest import SpecClient

    settings = make_database("qbr_nomarts")
    app = create_app({"QBR_SETTINGS": settings, "POOL_MIN_SIZE": 1})
    try:
        key = apikeys.create(settings, "k", "read")
        client = SpecClient(app, {"X-API-Key": key})
        r = client.get(f"{API}/smartnumbers")
        assert r.status_code == 503 and r.get_json()["error_code"] == "MARTS_NOT_BUILT"
        r = client.get(f"{API}/health")
        health = r.get_json()
        # issue 12: marts unreachable is "failing", 503 (was "degraded", 200)
        assert r.status_code == 503 and health["error_code"] == "HEALTH_FAILING"
        assert health["marts"] == "missing" and health["status"] == "failing"
        assert health["last_refresh"] is None and health["sources"] == []
    finally:
        app.extensions["qbr_pool"].close()


def test_database_down_is_503(marts_settings, keys):
    from api import create_app
    from tests.api.conftest import SpecClient

    app = create_app(
        {
            "DATABASE_URL": "postgresql://nobody:x@127.0.0.1:9/none?connect_timeout=1",
            "QBR_SETTINGS": marts_settings,
            "POOL_MIN_SIZE": 0,
        }
    )
    import api.db

    api.db.CHECKOUT_TIMEOUT, old = 1.0, api.db.CHECKOUT_TIMEOUT
    try:
        client = SpecClient(app)
        r = client.get(f"{API}/health")
        assert r.status_code == 503
        assert r.get_json()["error_code"] == "DATABASE_UNAVAILABLE"
        r = client.get(f"{API}/periods", headers={"X-API-Key": keys["read"]})
        assert r.status_code == 503 and r.get_json()["error_code"] == "DATABASE_UNAVAILABLE"
    finally:
        api.db.CHECKOUT_TIMEOUT = old
        app.extensions["qbr_pool"].close(timeout=1)
