"""Every GET endpoint over the hand-made marts, with the values computed by hand.

See tests/api/marts_fixture.py for the data and the arithmetic.
"""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.api.marts_fixture import EXPECTED, RUN_OK, RUN_PARTIAL

API = "/api/qbr"


def by_key(items: list[dict]) -> dict[str, dict]:
    return {i["key"]: i for i in items}


# --- health -----------------------------------------------------------------------------


def test_health_needs_no_key_and_reports_freshness(api):
    r = api.get(f"{API}/health")
    assert r.status_code == 200
    body = r.get_json()
    assert body["database"] == "ok" and body["marts"] == "ok"
    assert body["last_refresh"]["batch_id"] == RUN_PARTIAL
    assert body["last_refresh"]["status"] == "partial"
    sources = {s["source"]: s for s in body["sources"]}
    # connectwise loaded 1.5 h ago; quickbooks failed last time, last success 25.2 h ago
    assert sources["connectwise"]["is_stale"] is False
    assert sources["connectwise"]["age_hours"] == pytest.approx(1.5, abs=0.05)
    assert sources["quickbooks"]["last_status"] == "failed"
    assert sources["quickbooks"]["age_hours"] == pytest.approx(25.2, abs=0.05)
    # under the default 26 h limit, but it failed on its last attempt: degraded, named
    assert sources["quickbooks"]["is_stale"] is False
    assert sources["quickbooks"]["status"] == "degraded"
    assert sources["quickbooks"]["reason"].startswith(f"failed on its last refresh ({RUN_PARTIAL})")
    assert sources["connectwise"]["status"] == "ok" and sources["connectwise"]["reason"] is None
    assert body["status"] == "degraded"
    assert any(r.startswith("quickbooks: failed") for r in body["reasons"])
    assert "error" not in str(body["sources"])  # run errors need a key


# --- periods and catalogue --------------------------------------------------------------


def test_periods_monthly_default(reader):
    body = reader.get(f"{API}/periods").get_json()
    assert body["type"] == "monthly"
    assert body["total"] == 16
    assert body["latest_complete"] == "2025-03"
    first, last = body["periods"][0], body["periods"][-1]
    assert first["period"] == "2024-01" and first["start_date"] == "2024-01-01"
    assert first["end_date"] == "2024-01-31"
    assert first["starts_at"] == "2024-01-01T06:00:00+00:00"  # local midnight, Chicago
    assert last["period"] == "2025-04" and last["is_in_progress"] and not last["is_complete"]
    april_2024 = next(p for p in body["periods"] if p["period"] == "2024-04")
    assert april_2024["coverage"] == {"connectwise": False, "quickbooks": False, "inventory": False}


def test_periods_quarterly_paged(reader):
    body = reader.get(f"{API}/periods?type=quarterly&limit=2&offset=4").get_json()
    assert [p["period"] for p in body["periods"]] == ["2025-Q1", "2025-Q2"]
    assert body["total"] == 6 and body["limit"] == 2 and body["offset"] == 4
    assert body["latest_complete"] == "2025-Q1"
    assert body["periods"][0]["months"] == ["2025-01", "2025-02", "2025-03"]
    beyond = reader.get(f"{API}/periods?type=quarterly&offset=50").get_json()
    assert beyond["periods"] == [] and beyond["total"] == 6


def test_definitions(reader):
    body = reader.get(f"{API}/metrics/definitions").get_json()
    assert body["total"] == 12
    keys = [d["key"] for d in body["definitions"]]
    assert keys[:3] == [
        "reactive_tickets_created",
        "reactive_tickets_closed",
        "reactive_time_spent",
    ]
    rhem = next(d for d in body["definitions"] if d["key"] == "rhem")
    assert rhem["is_smartnumber"] and rhem["direction"] == "lower_is_better"
    assert rhem["docs_url"].endswith("model.qbr.rhem")
    page = reader.get(f"{API}/metrics/definitions?limit=2&offset=1").get_json()
    assert [d["key"] for d in page["definitions"]] == keys[1:3]


# --- monthly ---------------------------------------------------------------------------


def test_monthly_defaults_to_latest_complete_month(reader):
    body = reader.get(f"{API}/metrics/monthly").get_json()
    assert body["period"] == "2025-03"
    assert body["organization_id"] == 1
    assert body["is_complete"] is True and body["is_in_progress"] is False
    m = by_key(body["metrics"])
    assert m["reactive_tickets_created"]["value"] == 80
    assert m["reactive_time_spent"]["value"] == 39
    assert m["cash_reserve"] == {
        **m["cash_reserve"],
        "value": 50000,
        "data_source": "manual",
        "manual_value": 50000,
        "collected_value": None,
    }
    created = m["reactive_tickets_created"]
    assert created["name"] == "# of Reactive Tickets Created"
    assert created["source"] == "ConnectWise" and created["data_source"] == "collected"
    assert created["unit"] == "count" and created["category"] == "Operations"
    assert created["status"] is None  # no threshold on this input
    # catalogue order
    assert [i["key"] for i in body["metrics"]][:2] == [
        "reactive_tickets_created",
        "reactive_tickets_closed",
    ]


def test_monthly_one_period_with_filters(reader):
    body = reader.get(
        f"{API}/metrics/monthly?period=2025-01&metric=employees,technical_employees"
    ).get_json()
    m = by_key(body["metrics"])
    assert set(m) == {"employees", "technical_employees"}
    assert m["employees"]["value"] == 8.5
    assert m["technical_employees"]["value"] == 4
    src = reader.get(f"{API}/metrics/monthly?period=2025-01&source=quickbooks").get_json()
    assert {i["key"]: i["value"] for i in src["metrics"]} == {"mrr": 20000, "total_revenue": 30000}


def test_monthly_in_progress_month_is_flagged(reader):
    body = reader.get(
        f"{API}/metrics/monthly?period=2025-04&metric=reactive_tickets_closed"
    ).get_json()
    assert body["is_in_progress"] is True and body["is_complete"] is False
    (item,) = body["metrics"]
    assert item["is_in_progress"] is True and item["value"] == 25


def test_monthly_month_without_data_is_null_not_zero(reader):
    body = reader.get(
        f"{API}/metrics/monthly?period=2024-06&metric=reactive_tickets_created"
    ).get_json()
    assert body["metrics"][0]["value"] is None


def test_monthly_range(reader):
    body = reader.get(
        f"{API}/metrics/monthly?from=2024-12&to=2025-02&metric=reactive_tickets_created"
    ).get_json()
    assert body["from"] == "2024-12" and body["to"] == "2025-02"
    assert [(p["period"], p["metrics"][0]["value"]) for p in body["periods"]] == [
        ("2024-12", 110),
        ("2025-01", 100),
        ("2025-02", 120),
    ]


def test_monthly_client_filter(reader):
    body = reader.get(f"{API}/metrics/monthly?period=2025-01&client=102").get_json()
    assert body["client"] == {"client_id": 102, "client_name": "Bolt Law"}
    assert {i["key"]: i["value"] for i in body["metrics"]} == {
        "reactive_tickets_created": 10,
        "endpoints_managed": 30,
    }


# --- quarterly -------------------------------------------------------------------------


def test_quarterly_values_follow_the_quarterly_rule(reader):
    body = reader.get(f"{API}/metrics/quarterly?period=2025-Q1").get_json()
    assert body["months"] == ["2025-01", "2025-02", "2025-03"]
    m = by_key(body["metrics"])
    assert m["reactive_tickets_created"]["value"] == 300  # sum
    assert m["reactive_tickets_closed"]["value"] == 305
    assert m["reactive_time_spent"]["value"] == 144
    assert m["endpoints_managed"]["value"] == 200  # avg(200, 210, 190)
    assert m["technical_employees"]["value"] == pytest.approx(13 / 3)
    assert m["cash_reserve"]["value"] == 50000  # last month
    assert m["mrr"]["value"] == 63000
    assert m["endpoints_managed"]["months_with_value"] == 3
    assert m["endpoints_managed"]["quarterly_rule"] == "avg"
    assert [p["value"] for p in m["endpoints_managed"]["monthly_values"]] == [200, 210, 190]
    assert m["technical_employees"]["data_source"] == "manual"
    assert m["reactive_tickets_created"]["data_source"] == "collected"
    assert m["cash_reserve"]["data_source"] == "manual"


def test_quarterly_range_and_default(reader):
    default = reader.get(f"{API}/metrics/quarterly?metric=reactive_time_spent").get_json()
    assert default["period"] == "2025-Q1"
    body = reader.get(
        f"{API}/metrics/quarterly?from=2024-Q4&to=2025-Q2&metric=reactive_time_spent"
    ).get_json()
    got = [(b["period"], b["metrics"][0]["value"], b["is_in_progress"]) for b in body["periods"]]
    assert got == [("2024-Q4", 150, False), ("2025-Q1", 144, False), ("2025-Q2", 12.5, True)]


# --- smartnumbers ----------------------------------------------------------------------


def test_smartnumbers_default_latest_complete_quarter(reader):
    body = reader.get(f"{API}/smartnumbers").get_json()
    exp = EXPECTED["2025-Q1"]
    assert body["period"] == "2025-Q1"
    assert body["months"] == ["2025-01", "2025-02", "2025-03"]
    s = by_key(body["smartnumbers"])
    assert s["rhem"]["value"] == pytest.approx(exp["rhem"])
    assert s["rhem"]["status"] == "yellow"  # lower_is_better, green <= 0.20, yellow <= 0.25
    assert s["rhem"]["qoq_change"] == pytest.approx(exp["rhem_qoq"])
    assert s["rhem"]["yoy_change"] == pytest.approx(exp["rhem_yoy"])
    assert s["rhem"]["inputs"] == {"reactive_time_spent": 144, "endpoints_managed": 200}
    assert s["rhem"]["unit"] == "hours"
    assert s["rhem"]["threshold"] == {
        "direction": "lower_is_better",
        "green_min": 0.1,
        "green_max": 0.2,
        "yellow_min": None,
        "yellow_max": 0.25,
        "origin": "default",
    }
    assert s["total_close_pct"]["value"] == pytest.approx(exp["total_close_pct"])
    assert s["total_close_pct"]["status"] == "green"
    assert s["total_close_pct"]["yoy_change"] == pytest.approx(exp["close_yoy"])
    tpt = s["tickets_per_tech_per_month"]
    assert tpt["value"] == pytest.approx(exp["tickets_per_tech_per_month"])
    assert tpt["status"] == "red"
    assert tpt["qoq_change"] is None  # no technician count in 2024-Q4
    assert all(x["is_provisional"] is False for x in body["smartnumbers"])
    assert [x["key"] for x in body["smartnumbers"]] == [
        "tickets_per_tech_per_month",
        "total_close_pct",
        "rhem",
    ]


def test_smartnumbers_older_quarter_and_nulls(reader):
    body = reader.get(f"{API}/smartnumbers?period=2024-Q1").get_json()
    s = by_key(body["smartnumbers"])
    assert s["rhem"]["value"] == pytest.approx(0.3) and s["rhem"]["status"] == "red"
    assert s["total_close_pct"]["value"] == pytest.approx(0.875)
    assert s["rhem"]["qoq_change"] is None
    empty = by_key(reader.get(f"{API}/smartnumbers?period=2024-Q2").get_json()["smartnumbers"])
    assert empty["rhem"]["value"] is None and empty["rhem"]["status"] is None


def test_smartnumbers_of_the_quarter_in_progress_are_provisional(reader):
    # 2025-Q2 is in progress: every SmartNumber provisional, none coloured (the
    # rhem threshold would colour a value of any size)
    body = reader.get(f"{API}/smartnumbers?period=2025-Q2").get_json()
    assert body["is_in_progress"] is True
    s = by_key(body["smartnumbers"])
    assert s["rhem"]["value"] is not None
    assert all(x["is_provisional"] is True for x in body["smartnumbers"])
    assert [x["status"] for x in body["smartnumbers"]] == [None, None, None]


# --- thresholds (read) ------------------------------------------------------------------


def test_thresholds_list_and_one(reader):
    body = reader.get(f"{API}/thresholds").get_json()
    assert body["total"] == 3
    assert [t["metric"] for t in body["thresholds"]] == [
        "tickets_per_tech_per_month",
        "total_close_pct",
        "rhem",
    ]
    one = reader.get(f"{API}/thresholds/Total%20Close%20%25").get_json()  # by name
    assert one["metric"] == "total_close_pct" and one["origin"] == "default"
    assert (one["green_min"], one["green_max"]) == (0.95, 1.05)
    assert reader.get(f"{API}/thresholds/rhem").get_json()["green_max"] == 0.2


# --- clients ---------------------------------------------------------------------------


def test_clients_exclude_internal_by_default(reader):
    body = reader.get(f"{API}/clients").get_json()
    assert [c["client_name"] for c in body["clients"]] == ["Acme Dental", "Bolt Law"]
    assert body["total"] == 2
    everyone = reader.get(f"{API}/clients?include_internal=true").get_json()
    assert everyone["total"] == 3
    partial = reader.get(f"{API}/clients?match_status=partial").get_json()
    assert [c["client_id"] for c in partial["clients"]] == [102]


def test_client_metrics_range(reader):
    body = reader.get(
        f"{API}/clients/101/metrics?from=2025-01&to=2025-02&metric=endpoints_managed"
    ).get_json()
    assert body["client"]["client_name"] == "Acme Dental"
    assert [(p["period"], [m["value"] for m in p["metrics"]]) for p in body["periods"]] == [
        ("2025-01", [50]),
        ("2025-02", [52]),
    ]


# --- refresh (read) ---------------------------------------------------------------------


def test_refresh_list_paged(reader):
    body = reader.get(f"{API}/refresh").get_json()
    assert [r["batch_id"] for r in body["runs"]][:2] == [RUN_PARTIAL, RUN_OK] or body["total"] >= 2
    page = reader.get(f"{API}/refresh?limit=1&offset=0&status=succeeded").get_json()
    assert page["total"] >= 1 and page["runs"][0]["status"] == "succeeded"
    assert page["runs"][0]["status_url"] == f"{API}/refresh/{page['runs'][0]['batch_id']}"


def test_refresh_one_with_steps(reader):
    body = reader.get(f"{API}/refresh/{RUN_PARTIAL}").get_json()
    assert body["status"] == "partial" and body["progress"] == 100
    assert [(s["name"], s["status"]) for s in body["steps"]] == [
        ("connectwise", "succeeded"),
        ("quickbooks", "failed"),
        ("dbt_build", "succeeded"),
    ]
    assert body["steps"][1]["error"] == "HTTP 500 from QuickBooks"
    assert body["duration_seconds"] == pytest.approx(3600, abs=1)


# --- export ----------------------------------------------------------------------------


def _csv(resp) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True))))


def test_export_mbr_csv(reader):
    r = reader.get(f"{API}/export?period=2025-Q1&format=csv&view=mbr")
    assert r.mimetype == "text/csv"
    assert 'filename="qbr-2025-Q1-mbr.csv"' in r.headers["Content-Disposition"]
    rows = _csv(r)
    assert rows[0] == ["Category", "Metric", "Key", "Unit", "Year", "Jan", "Feb", "Mar", "Q1"]
    created = [row for row in rows if row[2] == "reactive_tickets_created"]
    assert created == [
        ["Operations", "# of Reactive Tickets Created", "reactive_tickets_created", "count", "2025", "100", "120", "80", "300"],
        ["Operations", "# of Reactive Tickets Created", "reactive_tickets_created", "count", "2024", "70", "80", "90", "240"],
    ]  # fmt: skip
    endpoints = [row for row in rows if row[2] == "endpoints_managed"]
    assert endpoints[0][5:] == ["200", "210", "190", "200"]
    assert endpoints[1][5:] == ["120", "120", "120", "120"]
    techs = [row for row in rows if row[2] == "technical_employees"]
    assert techs[1][5:] == ["", "", "", ""]  # prior year: nothing entered
    assert not any(row[2] == "rhem" for row in rows)  # SmartNumbers are not MBR rows


def test_export_scorecard_xlsx(reader):
    r = reader.get(f"{API}/export?period=2025-Q1&format=xlsx&view=scorecard")
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws.title == "Scorecard 2025-Q1"
    header = [c.value for c in ws[2]]
    assert header[:7] == ["#", "Category", "SmartNumber", "Key", "Value", "Unit", "Status"]
    rows = {row[3]: row for row in ws.iter_rows(min_row=3, values_only=True)}
    assert rows["rhem"][4] == pytest.approx(0.24)
    assert rows["rhem"][6] == "yellow"
    assert rows["rhem"][7] == "<= 0.2" and rows["rhem"][8] == "<= 0.25"
    assert rows["total_close_pct"][7] == "0.95 to 1.05"


def test_export_mbr_xlsx_defaults_to_latest_quarter(reader):
    r = reader.get(f"{API}/export?format=xlsx")
    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws.title == "MBR 2025-Q1"
    mrr = [row for row in ws.iter_rows(min_row=3, values_only=True) if row[2] == "mrr"]
    assert mrr[0][5:] == (20000, 21000, 22000, 63000)
    assert mrr[1][5:] == (15000, 15000, 16000, 46000)


def test_export_quotes_formula_like_text():
    from api.views.export import to_csv

    out = to_csv(["a"], [["=HYPERLINK(1)"], ["-3 text"], [-3]]).decode()
    assert out.splitlines()[1:] == ["'=HYPERLINK(1)", "'-3 text", "-3"]


# --- manual history ---------------------------------------------------------------------


def test_manual_history(reader):
    body = reader.get(f"{API}/metrics/manual?period=2025-03").get_json()
    assert {e["metric"]: e["value"] for e in body["entries"]} == {
        "technical_employees": 5,
        "employees": 9,
        "cash_reserve": 50000,
    }
    assert all(e["is_current"] and e["entered_by"] == "fixture" for e in body["entries"])


# --- openapi and ETag -------------------------------------------------------------------


def test_openapi_lists_every_route(app, reader):
    doc = reader.get(f"{API}/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("qbr.") or rule.endpoint == "qbr.not_found":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented
    assert doc["paths"][f"{API}/health"]["get"]["security"] == []


def test_openapi_document_is_valid():
    from jsonschema import Draft202012Validator

    from api.schemas import COMPONENTS

    for name, schema in COMPONENTS.items():
        Draft202012Validator.check_schema(schema), name


def test_etag_304_and_change_on_manual_entry(make_api):
    admin, reader, _ = make_api()
    first = reader.get(f"{API}/smartnumbers")
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = reader.get(f"{API}/smartnumbers", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["ETag"] == tag
    other = reader.get(f"{API}/metrics/monthly", headers={"If-None-Match": tag})
    assert other.status_code == 304  # same data version
    admin.post(
        f"{API}/metrics/manual",
        json={"period": "2025-02", "metrics": [{"metric": "technical_employees", "value": 6}]},
    )
    changed = reader.get(f"{API}/smartnumbers", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    tag2 = changed.headers["ETag"]
    admin.post(f"{API}/thresholds", json={"metric": "rhem", "warning": 0.3, "critical": 0.4})
    assert reader.get(f"{API}/smartnumbers", headers={"If-None-Match": tag2}).status_code == 200


def test_cache_follows_an_in_place_rebuild(make_api):
    """A plain `dbt build` replaces relations inside `qbr` (no swap, no run row): new data."""
    from qbr import db, roles

    _, reader, settings = make_api()
    first = reader.get(f"{API}/metrics/definitions?limit=1")
    assert first.get_json()["definitions"][0]["name"] == "# of Reactive Tickets Created"
    assert reader.get(f"{API}/metrics/definitions?limit=1").data == first.data  # cached
    with db.connect(settings) as owner:
        owner.execute(
            "create table qbr.metric_definitions__dbt_tmp as select * from qbr.metric_definitions"
        )
        owner.execute(
            "update qbr.metric_definitions__dbt_tmp set metric_name = 'Reactive tickets opened' "
            "where metric_key = 'reactive_tickets_created'"
        )
        owner.execute("drop table qbr.metric_definitions cascade")
        owner.execute("alter table qbr.metric_definitions__dbt_tmp rename to metric_definitions")
        roles.grant_read(owner)
        owner.commit()
    after = reader.get(
        f"{API}/metrics/definitions?limit=1", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert after.status_code == 200
    assert after.get_json()["definitions"][0]["name"] == "Reactive tickets opened"
