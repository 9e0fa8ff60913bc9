"""Every GET endpoint over the real marts, with the values computed independently.

The marts are the real dbt build over the `small` sandbox MSP; expected
values come from `sandbox.ground_truth` and the documented formulas, expected
periods from the clock (see tests/api/world.py).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from tests.api.world import (
    RUN_OK,
    RUN_PARTIAL,
    add_months,
    add_quarters,
    band,
    catalogue,
    default_thresholds,
    in_display_order,
    quarter_months,
)

API = "/api/qbr"
MONTH_ABBR = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def by_key(items: list[dict]) -> dict[str, dict]:
    return {i["key"]: i for i in items}


def change(value, before):
    return None if value is None or before is None else value - before


def approx(value):
    return pytest.approx(value) if value is not None else None


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


def test_periods_monthly_default(reader, world):
    body = reader.get(f"{API}/periods").get_json()
    assert body["type"] == "monthly"
    assert body["total"] == len(world.months)  # history start .. this month
    assert body["latest_complete"] == world.last_month
    first, last = body["periods"][0], body["periods"][-1]
    start = world.history_start
    assert first["period"] == start and first["start_date"] == f"{start}-01"
    month_end = date.fromisoformat(f"{add_months(start, 1)}-01") - timedelta(days=1)
    assert first["end_date"] == month_end.isoformat()
    local_midnight = datetime.fromisoformat(f"{start}-01").replace(
        tzinfo=ZoneInfo("America/Chicago")
    )
    assert datetime.fromisoformat(first["starts_at"]) == local_midnight  # local midnight, Chicago
    assert first["starts_at"].endswith("+00:00")
    assert last["period"] == world.current_month
    assert last["is_in_progress"] and not last["is_complete"]
    before_data = world.months[3]
    assert before_data < world.first_data_month
    month = next(p for p in body["periods"] if p["period"] == before_data)
    assert month["coverage"] == {"connectwise": False, "quickbooks": False, "inventory": False}


def test_periods_quarterly_paged(reader, world):
    total = len(world.quarters)
    body = reader.get(f"{API}/periods?type=quarterly&limit=2&offset={total - 2}").get_json()
    assert [p["period"] for p in body["periods"]] == [world.quarter, world.current_quarter]
    assert body["total"] == total and body["limit"] == 2 and body["offset"] == total - 2
    assert body["latest_complete"] == world.quarter
    assert body["periods"][0]["months"] == quarter_months(world.quarter)
    beyond = reader.get(f"{API}/periods?type=quarterly&offset=50").get_json()
    assert beyond["periods"] == [] and beyond["total"] == total


def test_definitions(reader):
    seed = catalogue()
    body = reader.get(f"{API}/metrics/definitions").get_json()
    assert body["total"] == len(seed)  # one definition per catalogue row
    keys = [d["key"] for d in body["definitions"]]
    assert keys == in_display_order(seed)
    rhem = next(d for d in body["definitions"] if d["key"] == "rhem")
    assert rhem["is_smartnumber"] and rhem["direction"] == "lower_is_better"
    # the dbt docs page of the model that computes it
    assert rhem["docs_url"].endswith("#!/model/model.qbr.smartnumbers")
    created = next(d for d in body["definitions"] if d["key"] == "reactive_tickets_created")
    assert created["docs_url"].endswith("#!/model/model.qbr.metrics_monthly")
    page = reader.get(f"{API}/metrics/definitions?limit=2&offset=1").get_json()
    assert [d["key"] for d in page["definitions"]] == keys[1:3]


# --- monthly ---------------------------------------------------------------------------


def test_monthly_defaults_to_latest_complete_month(reader, world):
    body = reader.get(f"{API}/metrics/monthly").get_json()
    month = world.last_month
    assert body["period"] == month
    assert body["organization_id"] == 1
    assert body["is_complete"] is True and body["is_in_progress"] is False
    m = by_key(body["metrics"])
    assert m["reactive_tickets_created"]["value"] == world.value(month, "reactive_tickets_created")
    assert m["reactive_time_spent"]["value"] == approx(world.value(month, "reactive_time_spent"))
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
    keys = [i["key"] for i in body["metrics"]]
    shown = [r for r in catalogue() if r["metric_key"] in keys]
    assert keys == in_display_order(shown)
    assert keys.index("reactive_tickets_created") < keys.index("reactive_tickets_closed")


def test_monthly_one_period_with_filters(reader, world):
    month = quarter_months(world.quarter)[0]
    body = reader.get(
        f"{API}/metrics/monthly?period={month}&metric=employees,technical_employees"
    ).get_json()
    m = by_key(body["metrics"])
    assert set(m) == {"employees", "technical_employees"}
    assert m["employees"]["value"] == 8.5
    assert m["technical_employees"]["value"] == 4
    src = reader.get(f"{API}/metrics/monthly?period={month}&source=quickbooks").get_json()
    quickbooks = {  # the MSP-wide ones; per-client metrics are not monthly rows
        r["metric_key"]
        for r in catalogue()
        if r["source"] == "QuickBooks" and r["metric_type"] != "client"
    }
    got = {i["key"]: i["value"] for i in src["metrics"]}
    assert set(got) == quickbooks
    truth = world.inputs(month)
    for key in ("mrr", "total_revenue", "net_profit", "total_expenses"):
        assert got[key] == approx(float(truth[key])), key


def test_monthly_in_progress_month_is_flagged(reader, world):
    month = world.current_month
    body = reader.get(
        f"{API}/metrics/monthly?period={month}&metric=reactive_tickets_closed"
    ).get_json()
    assert body["is_in_progress"] is True and body["is_complete"] is False
    (item,) = body["metrics"]
    assert item["is_in_progress"] is True
    assert item["value"] == world.value(month, "reactive_tickets_closed")


def test_monthly_month_without_data_is_null_not_zero(reader, world):
    month = world.months[5]
    assert month < world.first_data_month
    body = reader.get(
        f"{API}/metrics/monthly?period={month}&metric=reactive_tickets_created"
    ).get_json()
    assert body["metrics"][0]["value"] is None


def test_monthly_range(reader, world):
    months = [add_months(world.last_month, n) for n in (-2, -1, 0)]
    body = reader.get(
        f"{API}/metrics/monthly?from={months[0]}&to={months[-1]}&metric=reactive_tickets_created"
    ).get_json()
    assert body["from"] == months[0] and body["to"] == months[-1]
    assert [(p["period"], p["metrics"][0]["value"]) for p in body["periods"]] == [
        (p, world.value(p, "reactive_tickets_created")) for p in months
    ]


CLIENT_KEYS = {
    "endpoints": "endpoints_managed",
    "seats": "seats_managed",
    "reactive_tickets_created": "reactive_tickets_created",
    "reactive_tickets_closed": "reactive_tickets_closed",
    "reactive_time_spent": "reactive_time_spent",
    "agreement_mrr": "agreement_mrr",
}


def test_monthly_client_filter(reader, world):
    month = world.last_month
    client = world.clients()[0]
    truth = world.client_month(month, client["client_id"])
    body = reader.get(f"{API}/metrics/monthly?period={month}&client={client['client_id']}")
    body = body.get_json()
    assert body["client"] == {
        "client_id": client["client_id"],
        "client_name": client["client_name"],
    }
    got = {i["key"]: i["value"] for i in body["metrics"]}
    assert {k: got[k] for k in CLIENT_KEYS.values()} == {
        key: approx(truth[name]) for name, key in CLIENT_KEYS.items()
    }


# --- quarterly -------------------------------------------------------------------------


def test_quarterly_values_follow_the_quarterly_rule(reader, world):
    q = world.quarter
    body = reader.get(f"{API}/metrics/quarterly?period={q}").get_json()
    assert body["months"] == quarter_months(q)
    m = by_key(body["metrics"])
    for key in ("reactive_tickets_created", "reactive_tickets_closed", "mrr"):  # sum
        assert m[key]["value"] == approx(world.quarter_sum(q, key)), key
    assert m["reactive_time_spent"]["value"] == approx(world.quarter_sum(q, "reactive_time_spent"))
    endpoints = [world.value(p, "endpoints_managed") for p in quarter_months(q)]
    assert m["endpoints_managed"]["value"] == approx(sum(endpoints) / 3)  # avg
    assert m["technical_employees"]["value"] == pytest.approx(13 / 3)  # avg(4, 4, 5)
    assert m["cash_reserve"]["value"] == 50000  # last month
    assert m["endpoints_managed"]["months_with_value"] == 3
    assert m["endpoints_managed"]["quarterly_rule"] == "avg"
    assert [p["value"] for p in m["endpoints_managed"]["monthly_values"]] == endpoints
    assert m["technical_employees"]["data_source"] == "manual"
    assert m["reactive_tickets_created"]["data_source"] == "collected"
    assert m["cash_reserve"]["data_source"] == "manual"


def test_quarterly_range_and_default(reader, world):
    default = reader.get(f"{API}/metrics/quarterly?metric=reactive_time_spent").get_json()
    assert default["period"] == world.quarter
    quarters = [add_quarters(world.quarter, -1), world.quarter, world.current_quarter]
    body = reader.get(
        f"{API}/metrics/quarterly?from={quarters[0]}&to={quarters[-1]}&metric=reactive_time_spent"
    ).get_json()
    got = [(b["period"], b["metrics"][0]["value"], b["is_in_progress"]) for b in body["periods"]]
    assert got == [
        (q, approx(world.quarter_sum(q, "reactive_time_spent")), q == world.current_quarter)
        for q in quarters
    ]


# --- smartnumbers ----------------------------------------------------------------------


def test_smartnumbers_default_latest_complete_quarter(reader, world):
    q = world.quarter
    exp, prev, year_ago = (
        world.smart(q),
        world.smart(add_quarters(q, -1)),
        world.smart(add_quarters(q, -4)),
    )
    thresholds = default_thresholds()
    body = reader.get(f"{API}/smartnumbers").get_json()
    assert body["period"] == q
    assert body["months"] == quarter_months(q)
    s = by_key(body["smartnumbers"])
    assert s["rhem"]["value"] == pytest.approx(exp["rhem"])
    assert s["rhem"]["status"] == band(exp["rhem"], thresholds["rhem"])
    # (the year-ago quarter may predate the sandbox's 15 months: then no change)
    assert s["rhem"]["qoq_change"] == approx(change(exp["rhem"], prev["rhem"]))
    assert s["rhem"]["yoy_change"] == approx(change(exp["rhem"], year_ago["rhem"]))
    assert s["rhem"]["inputs"] == {
        "reactive_time_spent": approx(world.quarter_sum(q, "reactive_time_spent")),
        "endpoints_managed": approx(world.quarter_avg(q, "endpoints_managed")),
    }
    assert s["rhem"]["unit"] == "hours"
    assert s["rhem"]["threshold"] == {
        "direction": "lower_is_better",
        "green_min": 0.1,
        "green_max": 0.2,
        "yellow_min": None,
        "yellow_max": 0.25,
        "origin": "default",
    }
    close = s["total_close_pct"]
    assert close["value"] == pytest.approx(exp["total_close_pct"])
    assert close["status"] == band(exp["total_close_pct"], thresholds["total_close_pct"])
    assert close["yoy_change"] == approx(
        change(exp["total_close_pct"], year_ago["total_close_pct"])
    )
    tpt = s["tickets_per_tech_per_month"]
    assert tpt["value"] == pytest.approx(exp["tickets_per_tech_per_month"])
    assert tpt["status"] == band(
        exp["tickets_per_tech_per_month"], thresholds["tickets_per_tech_per_month"]
    )
    assert tpt["qoq_change"] is None  # no technician count in the quarter before
    assert all(x["is_provisional"] is False for x in body["smartnumbers"])
    smart = [r for r in catalogue() if r["is_smartnumber"] == "true"]
    assert [x["key"] for x in body["smartnumbers"]] == in_display_order(smart)


def test_smartnumbers_older_quarter_and_nulls(reader, world):
    first = world.quarters[
        [world.first_data_month in quarter_months(q) for q in world.quarters].index(True)
    ]
    exp = world.smart(first)
    body = reader.get(f"{API}/smartnumbers?period={first}").get_json()
    s = by_key(body["smartnumbers"])
    assert s["rhem"]["value"] == pytest.approx(exp["rhem"])
    assert s["rhem"]["status"] == band(exp["rhem"], default_thresholds()["rhem"])
    assert s["total_close_pct"]["value"] == pytest.approx(exp["total_close_pct"])
    assert s["rhem"]["qoq_change"] is None  # nothing the quarter before
    empty_q = world.quarters[1]
    assert quarter_months(empty_q)[-1] < world.first_data_month
    empty = by_key(reader.get(f"{API}/smartnumbers?period={empty_q}").get_json()["smartnumbers"])
    assert empty["rhem"]["value"] is None and empty["rhem"]["status"] is None


def test_smartnumbers_of_the_quarter_in_progress_are_provisional(reader, world):
    # the quarter in progress: every SmartNumber provisional, none coloured (the
    # rhem threshold would colour a value of any size)
    body = reader.get(f"{API}/smartnumbers?period={world.current_quarter}").get_json()
    assert body["is_in_progress"] is True
    s = by_key(body["smartnumbers"])
    assert s["rhem"]["value"] is not None
    assert all(x["is_provisional"] is True for x in body["smartnumbers"])
    assert all(x["status"] is None for x in body["smartnumbers"])


# --- thresholds (read) ------------------------------------------------------------------


def test_thresholds_list_and_one(reader):
    seed = default_thresholds()
    body = reader.get(f"{API}/thresholds").get_json()
    assert body["total"] == len(seed)
    assert [t["metric"] for t in body["thresholds"]] == [
        k for k in in_display_order(catalogue()) if k in seed
    ]
    one = reader.get(f"{API}/thresholds/Total%20Close%20%25").get_json()  # by name
    assert one["metric"] == "total_close_pct" and one["origin"] == "default"
    assert (one["green_min"], one["green_max"]) == (0.95, 1.05)
    assert reader.get(f"{API}/thresholds/rhem").get_json()["green_max"] == 0.2


# --- clients ---------------------------------------------------------------------------


def test_clients_exclude_internal_by_default(reader, world):
    expected = world.clients()
    body = reader.get(f"{API}/clients?limit=100").get_json()
    assert [c["client_name"] for c in body["clients"]] == [c["client_name"] for c in expected]
    assert body["total"] == len(expected)
    everyone = reader.get(f"{API}/clients?include_internal=true").get_json()
    assert everyone["total"] == len(world.clients(include_internal=True)) == len(expected) + 1
    for status in ("matched", "partial", "unmatched"):
        got = reader.get(f"{API}/clients?match_status={status}&limit=100").get_json()
        assert [c["client_id"] for c in got["clients"]] == [
            c["client_id"] for c in expected if c["match_status"] == status
        ], status


def test_client_metrics_range(reader, world):
    client = world.clients()[0]
    months = [add_months(world.last_month, -1), world.last_month]
    body = reader.get(
        f"{API}/clients/{client['client_id']}/metrics?from={months[0]}&to={months[1]}"
        "&metric=endpoints_managed"
    ).get_json()
    assert body["client"]["client_name"] == client["client_name"]
    assert [(p["period"], [m["value"] for m in p["metrics"]]) for p in body["periods"]] == [
        (p, [world.client_month(p, client["client_id"])["endpoints"]]) for p in months
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


def _number(cell):
    return float(cell) if cell not in ("", None) else None


def _mbr_row(world, quarter: str, key: str, rule: str) -> list:
    """Year, the quarter's three months and the quarter value by its rule."""
    months = [world.value(p, key) for p in quarter_months(quarter)]
    quarter_value = {"sum": world.quarter_sum, "avg": world.quarter_avg}[rule](quarter, key)
    return [quarter[:4], *map(approx, months), approx(quarter_value)]


def test_export_mbr_csv(reader, world):
    q = world.quarter
    r = reader.get(f"{API}/export?period={q}&format=csv&view=mbr")
    assert r.mimetype == "text/csv"
    assert f'filename="qbr-{q}-mbr.csv"' in r.headers["Content-Disposition"]
    rows = _csv(r)
    months = [MONTH_ABBR[int(p[5:]) - 1] for p in quarter_months(q)]
    assert rows[0] == ["Category", "Metric", "Key", "Unit", "Year", *months, q[5:]]
    year_ago = add_quarters(q, -4)
    created = [row for row in rows if row[2] == "reactive_tickets_created"]
    assert [row[:4] for row in created] == [
        ["Operations", "# of Reactive Tickets Created", "reactive_tickets_created", "count"]
    ] * 2
    assert [[row[4], *map(_number, row[5:])] for row in created] == [
        _mbr_row(world, q, "reactive_tickets_created", "sum"),
        _mbr_row(world, year_ago, "reactive_tickets_created", "sum"),
    ]
    endpoints = [row for row in rows if row[2] == "endpoints_managed"]
    assert [[row[4], *map(_number, row[5:])] for row in endpoints] == [
        _mbr_row(world, q, "endpoints_managed", "avg"),
        _mbr_row(world, year_ago, "endpoints_managed", "avg"),
    ]
    techs = [row for row in rows if row[2] == "technical_employees"]
    assert techs[1][5:] == ["", "", "", ""]  # prior year: nothing entered
    assert not any(row[2] == "rhem" for row in rows)  # SmartNumbers are not MBR rows


def test_export_scorecard_xlsx(reader, world):
    q = world.quarter
    r = reader.get(f"{API}/export?period={q}&format=xlsx&view=scorecard")
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws.title == f"Scorecard {q}"
    header = [c.value for c in ws[2]]
    assert header[:7] == ["#", "Category", "SmartNumber", "Key", "Value", "Unit", "Status"]
    rows = {row[3]: row for row in ws.iter_rows(min_row=3, values_only=True)}
    rhem = world.smart(q)["rhem"]
    assert rows["rhem"][4] == pytest.approx(rhem)
    assert rows["rhem"][6] == band(rhem, default_thresholds()["rhem"])
    assert rows["rhem"][7] == "<= 0.2" and rows["rhem"][8] == "<= 0.25"
    assert rows["total_close_pct"][7] == "0.95 to 1.05"


def test_export_mbr_xlsx_defaults_to_latest_quarter(reader, world):
    q = world.quarter
    r = reader.get(f"{API}/export?format=xlsx")
    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws.title == f"MBR {q}"
    mrr = [row for row in ws.iter_rows(min_row=3, values_only=True) if row[2] == "mrr"]
    assert [str(mrr[0][4]), *mrr[0][5:]] == _mbr_row(world, q, "mrr", "sum")
    assert [str(mrr[1][4]), *mrr[1][5:]] == _mbr_row(world, add_quarters(q, -4), "mrr", "sum")


def test_export_quotes_formula_like_text():
    from api.views.export import to_csv

    out = to_csv(["a"], [["=HYPERLINK(1)"], ["-3 text"], [-3]]).decode()
    assert out.splitlines()[1:] == ["'=HYPERLINK(1)", "'-3 text", "-3"]


# --- manual history ---------------------------------------------------------------------


def test_manual_history(reader, world):
    month = quarter_months(world.quarter)[2]
    body = reader.get(f"{API}/metrics/manual?period={month}").get_json()
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


def test_openapi_document_is_valid(app):
    from jsonschema import Draft202012Validator

    from api.spec import build_openapi

    for name, schema in build_openapi(app)["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name


def test_etag_304_and_change_on_manual_entry(make_api, world):
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
        json={
            "period": quarter_months(world.quarter)[1],
            "metrics": [{"metric": "technical_employees", "value": 6}],
        },
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
    key = in_display_order(catalogue())[0]
    name = next(r["metric_name"] for r in catalogue() if r["metric_key"] == key)
    assert first.get_json()["definitions"][0]["name"] == name
    assert reader.get(f"{API}/metrics/definitions?limit=1").data == first.data  # cached
    with db.connect(settings) as owner:
        owner.execute(
            "create table qbr.metric_definitions__dbt_tmp as select * from qbr.metric_definitions"
        )
        owner.execute(
            "update qbr.metric_definitions__dbt_tmp set metric_name = 'Renamed by hand' "
            "where metric_key = %s",
            (key,),
        )
        owner.execute("drop table qbr.metric_definitions cascade")
        owner.execute("alter table qbr.metric_definitions__dbt_tmp rename to metric_definitions")
        roles.grant_read(owner)
        owner.commit()
    after = reader.get(
        f"{API}/metrics/definitions?limit=1", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert after.status_code == 200
    assert after.get_json()["definitions"][0]["name"] == "Renamed by hand"
