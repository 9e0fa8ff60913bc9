"""The dbt chain end to end on the `small` preset, checked against the ground truth.

In file order (they share one built warehouse): the build passes; every
monthly input equals `sandbox.ground_truth.monthly_inputs` for every period;
per-client metrics equal `ground_truth.client_monthly`; every SmartNumber
equals its METRICS.md formula applied to those inputs (plus manual entries,
which show without a rebuild); a few days later an incremental rebuild is
still exact; adding a board to the reactive-boards seed changes the numbers
on the next build with no Python change (in a copy of the project, built
into a suffixed marts schema).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from qbr.dbt_runner import DBT_PROJECT_DIR
from sandbox import ground_truth as gt
from sandbox.msp import DEFAULT_CONFIG
from tests.dbt.conftest import Warehouse, record_build

WORKING_HOURS = 167
WARN_ONLY = ("is_empty_unmatched_clients", "is_empty_unmapped_accounts")

# period -> {metric: value} typed by hand (the API would store these)
MANUAL_KEYS = ("employees", "technical_employees", "telemarketing_dials",
               "first_time_appointments", "cash_reserve")  # fmt: skip


def close(got: Any, expected: Any) -> bool:
    if got is None or expected is None:
        return got is None and expected is None
    return math.isclose(float(got), float(expected), rel_tol=1e-9, abs_tol=1e-9)


def monthly_periods(wh: Warehouse) -> list[str]:
    rows = wh.query("select period from qbr.periods where period_type = 'monthly' order by 1")
    return [r[0] for r in rows]


def mart_values(wh: Warehouse, schema: str = "qbr") -> dict[tuple[str, str], Any]:
    rows = wh.query(f"select period, metric_key, value from {schema}.metrics_monthly")
    return {(p, k): v for p, k, v in rows}


def assert_inputs_match(wh: Warehouse, config: Any = DEFAULT_CONFIG, schema: str = "qbr",
                        keys: tuple[str, ...] = gt.MONTHLY_KEYS) -> dict:  # fmt: skip
    got = mart_values(wh, schema)
    periods = monthly_periods(wh)
    expected_all = {}
    wrong = []
    for period in periods:
        expected = gt.monthly_inputs(wh.msp, period, config)
        expected_all[period] = expected
        for key in keys:
            if not close(got.get((period, key)), expected[key]):
                wrong.append((period, key, got.get((period, key)), expected[key]))
    assert not wrong, f"{len(wrong)} of {len(periods) * len(keys)} differ, e.g. {wrong[:10]}"
    covered = [p for p in periods if expected_all[p]["reactive_tickets_created"] is not None]
    assert len(covered) >= 12, "the sandbox history should cover a year or more"
    return expected_all


# -- the build ---------------------------------------------------------------------------


def test_dbt_build_passes(warehouse: Warehouse):
    results = [
        r
        for r in warehouse.first_build["results"]  # type: ignore[attr-defined]
        if not r["unique_id"].startswith("exposure.")
    ]
    bad = [r["unique_id"] for r in results if r["status"] not in ("success", "pass", "warn")]
    assert not bad
    warned = [r["unique_id"] for r in results if r["status"] == "warn"]
    assert all(any(name in uid for name in WARN_ONLY) for uid in warned), warned
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "seed", "test", "unit_test"} <= kinds


def test_marts_have_contracted_columns(warehouse: Warehouse):
    contract = {
        "periods": "organization_id period period_type start_date end_date starts_at ends_at "
        "is_complete is_in_progress months has_connectwise has_quickbooks has_inventory",
        "metric_definitions": "metric_key metric_name category unit source formula "
        "quarterly_rule direction display_order is_smartnumber description docs_url",
        "metrics_monthly": "organization_id period metric_key metric_name value unit category "
        "source data_source collected_value manual_value is_complete is_in_progress coverage "
        "status updated_at",
        "metrics_quarterly": "organization_id period metric_key metric_name value unit "
        "category source quarterly_rule months_with_value is_complete monthly_values",
        "smartnumbers": "organization_id period metric_key metric_name value unit category "
        "status qoq_change yoy_change inputs display_order is_complete",
        "thresholds_effective": "organization_id metric_key direction green_min green_max "
        "yellow_min yellow_max origin",
        "clients": "client_id client_name identifier ninja_organization quickbooks_customer "
        "match_status is_internal",
        "client_metrics_monthly": "organization_id period client_id",
        "data_quality_flags": "organization_id period metric_key flag severity message",
        "unmatched_clients": "organization_id",
        "unmapped_accounts": "organization_id",
    }
    for table, cols in contract.items():
        have = {
            r[0]
            for r in warehouse.query(
                "select column_name from information_schema.columns "
                "where table_schema = 'qbr' and table_name = %s",
                (table,),
            )
        }
        assert set(cols.split()) <= have, (table, set(cols.split()) - have)


# -- ground truth ------------------------------------------------------------------------


def test_every_monthly_input_equals_ground_truth(warehouse: Warehouse):
    assert_inputs_match(warehouse)


def test_uncovered_months_are_null_not_zero(warehouse: Warehouse):
    msp = warehouse.msp
    before = (msp.start_month - timedelta(days=1)).strftime("%Y-%m")
    rows = warehouse.query(
        "select metric_key, value, coverage from qbr.metrics_monthly "
        "where period = %s and coverage <> 'derived'",
        (before,),
    )
    assert rows, "history_start must be before the sandbox's first month"
    got = {k: (v, c) for k, v, c in rows}
    expected = gt.monthly_inputs(msp, before)
    # the sources' data starts next month: null, and coverage says why
    for key in gt.MONTHLY_KEYS:
        if key in gt.AGREEMENT_KEYS:
            continue
        assert got[key] == (None, "before_first_month"), key
    # agreements have their own coverage: they exist before the first ticket
    assert expected["agreements"] > 0
    for key in gt.AGREEMENT_KEYS:
        assert got[key][1] == "collected", key
        assert close(got[key][0], expected[key]), (key, got[key], expected[key])
    assert got["employees"] == (None, "manual")
    periods = warehouse.query(
        "select has_connectwise, has_quickbooks, has_inventory from qbr.periods where period = %s",
        (before,),
    )
    assert periods == [(False, False, False)]


def test_client_metrics_equal_ground_truth(warehouse: Warehouse):
    rows = warehouse.query(
        "select period, client_id, metric_key, value from qbr.client_metrics_monthly"
    )
    got = {(p, c, k): v for p, c, k, v in rows}
    keys = {"endpoints": "endpoints_managed", "seats": "seats_managed",
            "reactive_tickets_created": "reactive_tickets_created",
            "reactive_tickets_closed": "reactive_tickets_closed",
            "reactive_time_spent": "reactive_time_spent", "agreement_mrr": "agreement_mrr"}  # fmt: skip
    wrong, checked = [], 0
    for period in monthly_periods(warehouse):
        for client, values in gt.client_monthly(warehouse.msp, period).items():
            for gt_key, key in keys.items():
                checked += 1
                if not close(got.get((period, client, key)), values[gt_key]):
                    wrong.append((period, values["name"], key, got.get((period, client, key)),
                                  values[gt_key]))  # fmt: skip
    assert checked > 0
    assert not wrong, wrong[:10]
    internal = warehouse.query("select count(*) from qbr.clients where is_internal")[0][0]
    assert internal == 1
    mapped = warehouse.query(
        "select ninja_organization, quickbooks_customer, match_status from qbr.clients "
        "where client_name = 'Blue Ridge Veterinary Clinic'"
    )
    assert mapped == [("BRV-Clinic", "BRVC Animal Hospital", "matched")]


def test_unmapped_account_reported_never_counted(warehouse: Warehouse):
    rows = warehouse.query("select account_name from qbr.unmapped_accounts")
    assert [r[0] for r in rows] == ["Ask My Accountant"]
    officer = warehouse.query(
        "select category, matched_rules from qbr_intermediate.int_pnl_accounts_mapped "
        "where account_name = 'Officer Payroll'"
    )
    assert officer and officer[0][0] == "owner_comp" and officer[0][1] >= 3


def test_accounts_map_on_their_name_without_the_account_number(warehouse: Warehouse):
    """Issue 11 item 3: `4000 · Managed Services Income` maps as `Managed
    Services Income` (mrr), the number kept apart - also for raw rows that
    still carry the number in the name. Checked in a transaction rolled back
    (staging and intermediate are views), so the warehouse is untouched."""
    with psycopg.connect(warehouse.settings.url) as conn:
        conn.execute(
            "insert into raw_quickbooks.profit_and_loss (origin, account_key, account_name, "
            "section, section_path, month, amount, accounting_method, loaded_at, "
            "_dlt_load_id, _dlt_id) values ('desktop', '4000 · Managed Services Income', "
            "'4000 · Managed Services Income', 'Income', 'Income/Managed Services Income', "
            "'2001-01-01', 10, 'Accrual', now(), 'test', 'test-numbered')"
        )
        staged = conn.execute(
            "select account_key, account_name, account_number from "
            "qbr_staging.stg_quickbooks__profit_and_loss where pnl_month = '2001-01-01'"
        ).fetchall()
        mapped = conn.execute(
            "select category from qbr_intermediate.int_pnl_accounts_mapped "
            "where account_key = 'Managed Services Income'"
        ).fetchall()
        conn.rollback()
    assert staged == [("Managed Services Income", "Managed Services Income", "4000")]
    assert mapped == [("mrr",)]


# -- SmartNumbers ------------------------------------------------------------------------


def _manual_values(periods: list[str]) -> dict[str, dict[str, Decimal]]:
    out = {}
    for i, period in enumerate(periods):
        out[period] = {
            "employees": Decimal("8.5") if i % 2 else Decimal("9"),
            "technical_employees": Decimal(4 + i % 2),
            "telemarketing_dials": Decimal(120 + 7 * i),
            "first_time_appointments": Decimal(0 if i == 2 else 4 + i % 3),
            "cash_reserve": Decimal(50000 + 1000 * i),
        }
    return out


def _div(a: Any, b: Any) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)


def _add(*xs: Any) -> float | None:
    return None if any(x is None for x in xs) else float(sum(float(x) for x in xs))


def _last_day(period: str) -> date:
    y, m = int(period[:4]), int(period[5:])
    return date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)


def expected_smartnumbers(
    msp: Any, months: list[str], monthly: dict[str, dict], in_progress: bool = False
) -> dict:
    """Every METRICS.md §2 formula in Python, over the quarter's months.

    "/ 3" is per(key): 3, or for a quarter in progress the number of its
    months with a value of the summed input (as A() counts months)."""

    def values(key: str) -> list[float]:
        return [float(monthly[m][key]) for m in months if monthly[m].get(key) is not None]

    def per(key: str) -> float | None:
        if not in_progress:
            return 3
        return len(values(key)) or None

    def s(key: str) -> float | None:
        v = values(key)
        return sum(v) if v else None

    def a(key: str) -> float | None:
        v = values(key)
        return sum(v) / len(v) if v else None

    services = _add(s("nrr"), s("mrr"))
    leverage = _add(s("nrr"), s("mrr"), s("orr"))
    techs = a("technical_employees")
    out = {
        "tickets_per_tech_per_month": _div(
            _div(s("reactive_tickets_closed"), techs), per("reactive_tickets_closed")
        ),
        "total_close_pct": _div(s("reactive_tickets_closed"), s("reactive_tickets_created")),
        "tickets_per_endpoint_per_month": _div(
            _div(s("reactive_tickets_created"), per("reactive_tickets_created")),
            a("endpoints_managed"),
        ),
        "rhem": _div(
            _div(s("reactive_time_spent"), a("endpoints_managed")), per("reactive_time_spent")
        ),
        "avg_resolution_time": _div(s("reactive_time_spent"), s("reactive_tickets_closed")),
        "reactive_service_pct": _div(
            _div(s("reactive_time_spent"), per("reactive_time_spent")),
            None if techs is None else techs * WORKING_HOURS,
        ),
        "net_profit_pct": _div(s("net_profit"), s("total_revenue")),
        "revenue_from_services_pct": _div(services, s("total_revenue")),
        "services_from_mrr_pct": _div(s("mrr"), services),
        "annual_service_rev_per_employee": None
        if _div(leverage, a("employees")) is None
        else _div(leverage, a("employees")) * 4,
        "annual_service_rev_per_tech": None
        if _div(leverage, techs) is None
        else _div(leverage, techs) * 4,
        "avg_aisp": _div(_div(s("mrr"), a("seats_managed")), per("mrr")),
        "avg_mrr_per_agreement": _div(_div(s("mrr"), a("agreements")), per("mrr")),
        "new_mrr_added": s("new_mrr"),
        "lost_mrr": s("lost_mrr"),
        "net_mrr_gain": None
        if s("new_mrr") is None or s("lost_mrr") is None
        else s("new_mrr") - s("lost_mrr"),
        "dials_per_appointment": _div(s("telemarketing_dials"), s("first_time_appointments")),
        "sales_call_close_pct": _div(s("new_agreements"), s("first_time_appointments")),
        "labor_efficiency_ratio": _div(
            None
            if s("total_revenue") is None or s("product_cogs") is None
            else s("total_revenue") - s("product_cogs"),
            _add(s("employee_expense"), s("owner_comp")),
        ),
    }
    # net / gross revenue retention: cohort with MRR at the end of the month before
    first = date(int(months[0][:4]), int(months[0][5:]), 1)
    start_day = first - timedelta(days=1)
    nrr = grr = None
    if gt.agreements_covered(msp, start_day.replace(day=1)):
        start = gt.client_mrr(msp, start_day)
        end = gt.client_mrr(msp, _last_day(months[-1]))
        base = sum(start.values())
        if base:
            nrr = float(sum(end.get(c, 0) for c in start)) / float(base)
            grr = float(sum(min(end.get(c, 0), v) for c, v in start.items())) / float(base)
    out["net_revenue_retention_pct"] = nrr
    out["gross_revenue_retention_pct"] = grr
    # endpoint security coverage: averages over the months with ThreatLocker snapshots
    covered, endpoints = [], []
    for m in months:
        share = gt.security_coverage(msp, m)
        if share is not None and monthly[m].get("endpoints_managed") is not None:
            endpoints.append(float(monthly[m]["endpoints_managed"]))
            covered.append(round(share * float(monthly[m]["endpoints_managed"])))
    out["endpoint_security_coverage_pct"] = (
        _div(sum(covered) / len(covered), sum(endpoints) / len(endpoints)) if covered else None
    )
    return out


def test_smartnumbers_equal_their_formulas(warehouse: Warehouse):
    periods = monthly_periods(warehouse)
    msp = warehouse.msp
    covered = [p for p in periods if date.fromisoformat(p + "-01") >= msp.start_month]
    manual = _manual_values(covered)
    rows = [(p, k, v, "dbt-test") for p, values in manual.items() for k, v in values.items()]
    # a forced override then a revert: the collected value shows again
    rows += [(covered[3], "agreements", Decimal(999), "dbt-test")]
    with psycopg.connect(warehouse.settings.url) as conn:
        conn.cursor().executemany(
            "insert into qbr_app.manual_metrics (period, metric_key, value, entered_by, forced) "
            "values (%s, %s, %s, %s, true)",
            rows,
        )
        conn.execute(
            "insert into qbr_app.manual_metrics (period, metric_key, action, entered_by) "
            "values (%s, 'agreements', 'revert', 'dbt-test')",
            (covered[3],),
        )
    # no rebuild: the marts are views over qbr_app
    monthly = {p: dict(gt.monthly_inputs(msp, p)) for p in periods}
    for p, values in manual.items():
        monthly[p].update(values)
    assert_inputs_match(warehouse)  # the revert left agreements collected
    got_employees = warehouse.query(
        "select value, data_source from qbr.metrics_monthly "
        "where period = %s and metric_key = 'employees'",
        (covered[1],),
    )
    assert got_employees == [(Decimal("8.5"), "manual")]

    quarters = warehouse.query(
        "select period, months, is_in_progress from qbr.periods "
        "where period_type = 'quarterly' order by 1"
    )
    got = {
        (p, k): v
        for p, k, v in warehouse.query("select period, metric_key, value from qbr.smartnumbers")
    }
    wrong, checked = [], 0
    for quarter, months, in_progress in quarters:
        months = [m for m in months if m in monthly]
        expected = expected_smartnumbers(msp, months, monthly, in_progress)
        for key, value in expected.items():
            checked += 1
            if not close(got.get((quarter, key), "missing"), value):
                wrong.append((quarter, key, got.get((quarter, key), "missing"), value))
    assert checked == len(quarters) * 22
    assert not wrong, wrong[:10]
    some = [v for (q, k), v in got.items() if k == "rhem" and v is not None]
    assert len(some) >= 4, "several quarters should have a RHEM"
    # agreements cover the quarters before the first ticket: the first quarter
    # ConnectWise covers has its retention (the cohort's start month has no tickets)
    first = min(q for q, months, _ in quarters if any(m in covered for m in months))
    assert got[(first, "net_revenue_retention_pct")] is not None
    assert got[(first, "gross_revenue_retention_pct")] is not None
    # the quarter in progress: provisional, no status colour (rhem has a band)
    current = [q for q, _, in_progress in quarters if in_progress]
    assert len(current) == 1
    provisional = warehouse.query(
        "select bool_and(is_provisional), count(status) from qbr.smartnumbers where period = %s",
        (current[0],),
    )
    assert provisional == [(True, 0)]
    settled = warehouse.query(
        "select bool_or(is_provisional), count(status) from qbr.smartnumbers where period < %s",
        (current[0],),
    )
    assert settled[0][0] is False and settled[0][1] > 0


# -- incremental refresh -----------------------------------------------------------------


def test_incremental_rebuild_after_new_days_stays_exact(warehouse: Warehouse):
    before = warehouse.query("select count(*) from qbr_intermediate.int_time_entries_bucketed")
    warehouse.sandbox.advance(2)
    warehouse.load()
    warehouse.build()
    assert_inputs_match(warehouse)
    after = warehouse.query("select count(*) from qbr_intermediate.int_time_entries_bucketed")
    assert after[0][0] >= before[0][0]
    incremental = warehouse.query(
        "select count(*) from qbr_intermediate.int_time_entries_bucketed "
        "where time_entry_id is null"
    )
    assert incremental == [(0,)]


# -- analyst edits: a seed change, no Python change ------------------------------------


def test_reactive_board_seed_change_changes_numbers(warehouse: Warehouse, tmp_path: Path):
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    seed = project / "seeds" / "reactive_boards.csv"
    seed.write_text(seed.read_text().rstrip("\n") + "\nAlerts\n")
    before = mart_values(warehouse)
    warehouse.build("--vars", "{marts_suffix: __seedtest}", project_dir=project)
    after = mart_values(warehouse, "qbr__seedtest")
    changed = [k for k in before if k[1] == "reactive_tickets_created" and before[k] != after[k]]
    assert changed, "adding a reactive board changed nothing"
    config = DEFAULT_CONFIG.replace(reactive_boards=["Help Desk", "Alerts"])
    assert_inputs_match(
        warehouse, config, schema="qbr__seedtest",
        keys=("reactive_tickets_created", "reactive_tickets_closed", "reactive_time_spent"),
    )  # fmt: skip
    # the live marts are untouched until the refresh swaps the schemas
    assert mart_values(warehouse) == before


def test_internal_tickets_seed_setting(warehouse: Warehouse, tmp_path: Path):
    """excluded_organizations.count_reactive_work: default true counts the MSP's own
    tickets and hours as reactive work (the live marts, checked against ground truth
    above); false leaves them out - both checked against ground truth."""
    internal = warehouse.query(
        "select count(*) from qbr_intermediate.int_tickets_classified "
        "where is_internal and board_name = 'Help Desk'"
    )[0][0]
    assert internal > 0, "the sandbox MSP should have Help Desk tickets of its own"
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    seed = project / "seeds" / "excluded_organizations.csv"
    lines = seed.read_text().splitlines()
    edited = [ln[: -len(",true")] + ",false" if ln.endswith(",true") else ln for ln in lines]
    assert edited != lines
    seed.write_text("\n".join(edited) + "\n")
    before = mart_values(warehouse)
    warehouse.build("--vars", "{marts_suffix: __internaltest}", project_dir=project)
    keys = ("reactive_tickets_created", "reactive_tickets_closed", "reactive_time_spent")
    after = mart_values(warehouse, "qbr__internaltest")
    assert any(before[k] != after[k] for k in before if k[1] in keys)
    config = DEFAULT_CONFIG.replace(count_internal_reactive_work=False)
    assert_inputs_match(warehouse, config, schema="qbr__internaltest", keys=keys)
    # the default again (the side build re-seeded the shared seed table)
    warehouse.build("--select", "excluded_organizations")


def test_pnl_gap_and_months_after_last_import_are_null(warehouse: Warehouse):
    """A month missing from the P&L inside the loaded range, and the months after the
    last load, are null with coverage saying why - never 0; other months unchanged."""
    periods = [p for p in monthly_periods(warehouse) if gt.monthly_inputs(warehouse.msp, p)["mrr"]]
    gap, tail = periods[len(periods) // 2], periods[-2:]
    backup = "raw_quickbooks.pnl_gap_backup"
    # the gap month, and everything from the tail on (the last import ended before it;
    # the sandbox's clock may already be in a month after the warehouse's current one)
    dropped = "to_char(month, 'YYYY-MM') = %s or to_char(month, 'YYYY-MM') >= %s"
    warehouse.execute(
        f"create table {backup} as select * from raw_quickbooks.profit_and_loss where {dropped}",
        (gap, tail[0]),
    )
    try:
        warehouse.execute(
            f"delete from raw_quickbooks.profit_and_loss where {dropped}", (gap, tail[0])
        )
        warehouse.build("--vars", "{marts_suffix: __gaptest}")
        rows = warehouse.query(
            "select period, metric_key, value, coverage from qbr__gaptest.metrics_monthly "
            "where metric_key in ('mrr', 'total_revenue', 'net_profit', 'total_expenses')"
        )
        got = {(p, k): (v, c) for p, k, v, c in rows}
        for key in ("mrr", "total_revenue", "net_profit", "total_expenses"):
            assert got[(gap, key)] == (None, "missing_month"), key
            for month in tail:
                assert got[(month, key)] == (None, "after_last_month"), (month, key)
            kept = periods[len(periods) // 2 - 1]
            expected = gt.monthly_inputs(warehouse.msp, kept)[key]
            assert got[(kept, key)][1] == "collected" and close(got[(kept, key)][0], expected)
        # the quarter's sum skips the gap instead of adding a 0: the same total
        quarterly = warehouse.query(
            "select value, months_with_value from qbr__gaptest.metrics_quarterly "
            "where metric_key = 'mrr' and period = (select quarter_period from "
            "qbr_intermediate.int_months where period = %s)",
            (gap,),
        )
        assert quarterly[0][1] < 3
    finally:
        warehouse.execute(f"insert into raw_quickbooks.profit_and_loss select * from {backup}")
        warehouse.execute(f"drop table {backup}")


# -- docs ----------------------------------------------------------------------------------


def test_docs_site_builds_and_serves(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import argparse
    import threading
    import urllib.request

    from qbr.app import docs

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "docs"))
    assert docs.main(warehouse.settings, argparse.Namespace(serve=False, port=0)) == 0
    site = docs.target_dir(warehouse.settings)
    assert site == tmp_path / "docs"
    manifest = (site / "manifest.json").read_text()
    assert "exposure.qbr.qbr_api" in manifest and "metric_rhem" in manifest
    server = docs.make_server(site, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/catalog.json"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"smartnumbers" in response.read()
    finally:
        server.shutdown()
        server.server_close()


# -- anomaly flags (issue 12 item 6) ---------------------------------------------------------


def test_flags_only_recent_months_and_above_the_materiality_floor(warehouse: Warehouse):
    """The rule re-applied in Python to the collected values; dbt must agree exactly."""
    import csv
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import yaml

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    floors = project["flag_materiality_floor"]
    threshold = float(project["mom_change_flag_threshold"])
    excluded = set(project["mom_change_flag_excluded"])
    assert floors["dollars"] == 1000  # a $20 -> $69 swing is under it
    with open(DBT_PROJECT_DIR / "seeds" / "metric_catalogue.csv") as f:
        catalogue = {r["metric_key"]: r for r in csv.DictReader(f)}

    today = datetime.now(ZoneInfo("America/Chicago")).date()
    in_progress = today.strftime("%Y-%m")
    first = today.replace(day=1)
    latest_complete = (first - timedelta(days=1)).strftime("%Y-%m")
    flags = warehouse.query("select period, flag, metric_key, flag_id from qbr.data_quality_flags")
    assert flags, "the sandbox plants anomalies: some flags are expected"
    assert {p for p, *_ in flags} <= {latest_complete, in_progress}
    assert len({f[3] for f in flags}) == len(flags)  # flag_id unique

    values = {
        (k, p): (None if v is None else float(v))
        for k, p, v in warehouse.query(
            "select metric_key, period, collected_value from qbr.metrics_monthly_collected"
        )
    }
    previous = (first - timedelta(days=1)).replace(day=1) - timedelta(days=1)
    before = previous.strftime("%Y-%m")
    expected = set()
    for key, row in catalogue.items():
        if row["collection"] == "manual" or key in excluded:
            continue
        now_v, prev_v = values.get((key, latest_complete)), values.get((key, before))
        if now_v is None or prev_v in (None, 0):
            continue
        change = abs(now_v - prev_v)
        if change / abs(prev_v) > threshold and change >= floors.get(row["unit"], 0):
            expected.add(key)
    got = {k for p, flag, k, _ in flags if flag == "large_change"}
    assert got == expected
    # and the floor is what kept small swings out: some key above 50% but under its floor
    small = [
        k
        for k, row in catalogue.items()
        if values.get((k, latest_complete)) is not None
        and values.get((k, before)) not in (None, 0)
        and abs(values[(k, latest_complete)] - values[(k, before)]) / abs(values[(k, before)])
        > threshold
        and k not in expected
        and k not in excluded
        and row["collection"] != "manual"
    ]
    assert all(k not in got for k in small)


# -- the contributor guides, done once (docs/contributing/add-an-input-metric.md and
#    add-a-smartnumber.md): only the files they name change, in a copy of the project built
#    into side schemas (every layer suffixed, so the shared warehouse is untouched) --------

GUIDE_SUFFIX = "__guide"
NEW_INPUT = "all_tickets_created"
NEW_KPI = "all_tickets_per_endpoint_per_month"


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text().rstrip("\n") + "\n" + text)


def _insert_before(path: Path, marker: str, text: str) -> None:
    body = path.read_text()
    assert body.count(marker) == 1, f"{marker!r} in {path.name}"
    path.write_text(body.replace(marker, text + marker))


@pytest.fixture(scope="module")
def guided(warehouse: Warehouse, tmp_path_factory: Any) -> Any:
    project = tmp_path_factory.mktemp("guide") / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    # add an input metric, step 1: the catalogue row
    _append(
        project / "seeds" / "metric_catalogue.csv",
        f"{NEW_INPUT},# of Tickets Created (all boards),Operations,count,ConnectWise,"
        "collected,input,parent tickets on any board entered in the month,sum,,140,false,"
        "connectwise,false,,false,Parent tickets of every board.\n",
    )
    # step 2: its SQL, one branch of int_input_metrics_monthly
    _insert_before(
        project / "models" / "intermediate" / "int_input_metrics_monthly.sql",
        "    -- the ten P&L categories",
        "    select\n        entered_month as month_start,\n"
        f"        '{NEW_INPUT}' as metric_key,\n"
        "        cast(count(*) as numeric) as metric_value\n"
        "    from tickets\n    where is_parent\n    group by entered_month\n\n"
        "    union all\n\n",
    )
    # add a SmartNumber: catalogue row, the formula, a default threshold
    _append(
        project / "seeds" / "metric_catalogue.csv",
        f"{NEW_KPI},All Tickets per Endpoint per Month,Operations,tickets,SmartNumber,"
        "derived,smartnumber,S(all_tickets_created) / 3 / A(endpoints_managed),formula,"
        f"lower_is_better,23,true,,true,{NEW_INPUT} endpoints_managed,false,"
        "All tickets per endpoint.\n",
    )
    _insert_before(
        project / "models" / "marts" / "smartnumbers_live.sql",
        "        (\n            'total_close_pct',",
        f"        (\n            '{NEW_KPI}',\n"
        f"            {{{{ qbr.safe_divide(qbr.quarter_value('{NEW_INPUT}'),\n"
        "                qbr.quarter_value('endpoints_managed') ~ ' * '\n"
        f"                ~ qbr.quarter_months('{NEW_INPUT}')) }}}},\n"
        "            '{}'::jsonb\n        ),\n",
    )
    _append(
        project / "seeds" / "default_thresholds.csv",
        f"{NEW_KPI},lower_is_better,0.1,0.5,,0.7,\n",
    )
    suffix = f"{{marts_suffix: {GUIDE_SUFFIX}, layers_suffix: {GUIDE_SUFFIX}}}"
    warehouse.build("--vars", suffix, "--exclude-resource-type", "unit_test", project_dir=project)
    yield warehouse
    for schema in ("qbr", "qbr_staging", "qbr_intermediate", "qbr_seeds"):
        warehouse.execute(f"drop schema if exists {schema}{GUIDE_SUFFIX} cascade")


def _all_boards_config(wh: Warehouse) -> Any:
    boards = [r[0] for r in wh.query("select distinct board_name from qbr_staging."
                                     "stg_connectwise__tickets where board_name is not null")]  # fmt: skip
    return DEFAULT_CONFIG.replace(reactive_boards=boards)


def test_guide_add_an_input_metric(guided: Warehouse):
    config = _all_boards_config(guided)
    got = mart_values(guided, "qbr" + GUIDE_SUFFIX)
    periods = monthly_periods(guided)
    wrong = []
    for period in periods:
        expected = gt.monthly_inputs(guided.msp, period, config)["reactive_tickets_created"]
        if not close(got.get((period, NEW_INPUT)), expected):
            wrong.append((period, got.get((period, NEW_INPUT)), expected))
    assert not wrong, wrong[:5]
    assert sum(v for (p, k), v in got.items() if k == NEW_INPUT and v) > 0
    # served by /metrics/definitions, with its catalogue columns
    assert guided.query(
        f"select source_group, allows_negative from qbr{GUIDE_SUFFIX}.metric_definitions "
        "where metric_key = %s",
        (NEW_INPUT,),
    ) == [("connectwise", False)]
    # and in the quarterly mart by its rule (sum of the months)
    rows = guided.query(
        f"select period, value, data_source from qbr{GUIDE_SUFFIX}.metrics_quarterly "
        "where metric_key = %s and months_with_value = 3",
        (NEW_INPUT,),
    )
    assert rows
    for quarter, value, data_source in rows:
        year, q = quarter.split("-Q")
        months = [f"{year}-{3 * (int(q) - 1) + m:02d}" for m in (1, 2, 3)]
        assert close(value, sum(got[(m, NEW_INPUT)] for m in months))
        assert data_source == "collected"


def test_guide_add_a_smartnumber(guided: Warehouse):
    config = _all_boards_config(guided)
    rows = guided.query(
        f"select s.period, s.value, s.status, s.inputs from qbr{GUIDE_SUFFIX}.smartnumbers s "
        "where s.metric_key = %s and s.is_complete and not s.is_provisional",
        (NEW_KPI,),
    )
    checked = 0
    for quarter, value, status, inputs in rows:
        year, q = quarter.split("-Q")
        months = [f"{year}-{3 * (int(q) - 1) + m:02d}" for m in (1, 2, 3)]
        truth = [gt.monthly_inputs(guided.msp, m, config) for m in months]
        created = [t["reactive_tickets_created"] for t in truth]
        endpoints = [t["endpoints_managed"] for t in truth if t["endpoints_managed"] is not None]
        if None in created or not endpoints or not sum(endpoints):
            continue
        expected = sum(created) / 3 / (sum(endpoints) / len(endpoints))
        assert close(value, expected), (quarter, value, expected)
        assert close(inputs[NEW_INPUT], sum(created))
        # the default threshold (lower is better: green up to 0.5, yellow up to 0.7)
        assert status == ("green" if expected <= 0.5 else "yellow" if expected <= 0.7 else "red")
        checked += 1
    assert checked >= 2, rows


def test_refresh_skips_the_build_only_when_nothing_dbt_reads_changed(warehouse: Warehouse):
    """qbr.dbt_runner.decide_build over the built warehouse: the same inputs skip, a changed
    raw row, a threshold edit or --full build; a refresh loading no source builds."""
    from qbr import dbt_runner

    sources = [("connectwise", "succeeded", 0), ("quickbooks", "succeeded", 12)]
    batch = "bc_" + "0" * 25 + "T"
    with psycopg.connect(warehouse.settings.url, autocommit=True) as conn:

        def decide(**kw: Any) -> dbt_runner.BuildDecision:
            kw.setdefault("sources", sources)
            return dbt_runner.decide_build(conn, warehouse.settings, **kw)

        first = decide()
        assert not first.skip and first.full_refresh  # no earlier fingerprint: rules unknown
        record_build(conn, batch, first.details())
        try:
            same = decide()
            assert same.skip, same.reason
            assert not decide(full=True).skip and not decide(sources=[]).skip
            assert not decide(sources=[("quickbooks", "failed", None)]).skip
            # a P&L amount changes: the raw tables' content, not their write counters
            [(row_id,)] = conn.execute(
                "select min(_dlt_id) from raw_quickbooks.profit_and_loss"
            ).fetchall()
            conn.execute(
                "update raw_quickbooks.profit_and_loss set amount = amount + 1 where _dlt_id = %s",
                (row_id,),
            )
            changed = decide()
            assert not changed.skip and not changed.full_refresh
            assert changed.reason == "changed: raw"
            conn.execute(
                "update raw_quickbooks.profit_and_loss set amount = amount - 1 where _dlt_id = %s",
                (row_id,),
            )
            assert decide().skip  # identical again (a re-merge of the same rows)
            conn.execute(
                "insert into qbr_app.thresholds (metric_key, direction, green_min, updated_by) "
                "values ('skip_test_metric', 'higher_is_better', 1, 'dbt-test')"
            )
            assert decide().reason == "changed: app"
            conn.execute("delete from qbr_app.thresholds where metric_key = 'skip_test_metric'")
            assert decide().skip
        finally:
            conn.execute("delete from qbr_app.refresh_runs where batch_id = %s", (batch,))


# -- a data-only refresh (qbr/app/refresh/run.py, docs/contracts.md section 3) ---------------


def _fingerprints(wh: Warehouse, schema: str) -> dict[str, tuple[int, str]]:
    """Every table and view of `schema`: (rows, md5 of its sorted rows), leaving out the
    build time metrics_monthly_collected stamps on its rows (`updated_at`)."""
    names = [
        n
        for (n,) in wh.query(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind in ('r', 'v') order by 1",
            (schema,),
        )
    ]
    out = {}
    for name in names:
        [(rows, digest)] = wh.query(
            f"select count(*), md5(coalesce(string_agg(r, '|' order by r), '')) "
            f"from (select (to_jsonb(t) - 'updated_at')::text as r "
            f'from "{schema}"."{name}" as t) as rows'
        )
        out[name] = (rows, digest)
    return out


def test_data_only_refresh_equals_a_full_rebuild_and_a_failed_test_keeps_the_marts(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A refresh whose rules are the last good build's rebuilds only what the data reaches;
    its marts equal, row for row, a `--full-refresh` build of the same data into other
    schemas (an independent route). A data test failing on it keeps the previous marts."""
    from qbr.app import refresh

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    first = refresh.run_refresh(warehouse.settings, sources=[], trigger="test", echo=False)
    assert first.status == "succeeded", first.error
    assert first.steps[-1].details["build_mode"] == "full swap"
    staging_views = dict(
        warehouse.query(
            "select c.relname, c.oid::bigint from pg_class c join pg_namespace n "
            "on n.oid = c.relnamespace where n.nspname = 'qbr_staging'"
        )
    )

    # new data: one more inventory day in the latest month, an edited recent time entry
    [(last_day,)] = warehouse.query("select max(snapshot_date) from inventory.device_snapshot")
    warehouse.execute(
        "insert into inventory.device_snapshot (snapshot_date, vendor_id, device_identity_id, "
        "site_id, device_type_id, billing_status_id, hostname, os_name, organization_name, "
        "display_name, location_name, device_status, node_class, last_online) "
        "select snapshot_date + 1, vendor_id, device_identity_id, site_id, device_type_id, "
        "billing_status_id, hostname, os_name, organization_name, display_name, "
        "location_name, device_status, node_class, last_online from inventory.device_snapshot "
        "where snapshot_date = %s and device_identity_id %% 3 <> 0 "
        "and date_trunc('month', snapshot_date + 1) = date_trunc('month', snapshot_date)",
        (last_day,),
    )
    warehouse.execute(
        "update raw_connectwise.time_entries set actual_hours = actual_hours + 5 "
        "where id = (select max(id) from raw_connectwise.time_entries)"
    )
    # a past month changes too: a client matched to its NinjaOne organization by name is
    # renamed, so in every month - also those older than the incremental lookback - its
    # devices no longer count (0 in a covered month). The per-organization device counts
    # are incremental; the matching that sums them per client is not.
    [(company_id, organization, old_month, endpoints)] = warehouse.query(
        "select m.company_id, m.source_key, c.period, c.value::numeric "
        "from qbr_intermediate.int_clients_matched m "
        "join qbr.client_metrics_monthly c on c.client_id = m.company_id "
        "and c.metric_key = 'endpoints_managed' "
        "where m.source_system = 'ninjaone' and m.match_method = 'normalized_name' "
        "and c.value::numeric > 0 and c.period < ("
        "  select to_char(max(snapshot_month) - interval '2 month', 'YYYY-MM') "
        "  from qbr_intermediate.int_devices_classified) "
        "and (select count(*) from qbr_intermediate.int_clients_matched o "
        "     where o.company_id = m.company_id and o.source_system = 'ninjaone') = 1 "
        "order by c.period, m.company_id limit 1"
    )
    assert endpoints > 0
    warehouse.execute(
        "update raw_connectwise.companies set name = 'Zz Renamed Client ' || id where id = %s",
        (company_id,),
    )
    second = refresh.run_refresh(warehouse.settings, sources=[], trigger="test", echo=False)
    assert second.status == "succeeded", second.error
    assert warehouse.query(
        "select value::numeric from qbr.client_metrics_monthly where client_id = %s "
        "and period = %s and metric_key = 'endpoints_managed'",
        (company_id, old_month),
    ) == [(0,)]
    assert warehouse.query(
        "select company_id from qbr_intermediate.int_clients_matched "
        "where source_system = 'ninjaone' and source_key = %s",
        (organization,),
    ) == [(None,)]
    details = second.steps[-1].details
    assert details["build_mode"] == "data-only", details.get("build_mode_reason")
    run = set(details["dbt_models_run"])
    assert {"int_devices_classified", "client_metrics_monthly", "metrics_monthly"} <= run
    assert not any(m.startswith("stg_") for m in run)  # views over sources: kept
    assert details["relations_kept"]["seeds"] == 11
    assert details["dbt_tests_not_rerun"] > 0
    # the kept staging views were re-created beside the rebuilt ones and switched in
    assert set(staging_views) == {
        n for (n,) in warehouse.query(
            "select table_name from information_schema.tables where table_schema = 'qbr_staging'"
        )
    }  # fmt: skip

    # the independent route: everything from raw, --full-refresh, into *__full schemas
    full = warehouse.build(
        "--full-refresh",
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        '{"marts_suffix": "__full", "layers_suffix": "__full"}',
    )
    assert full["results"]
    try:
        for schema in ("qbr", "qbr_intermediate"):
            got, expected = (
                _fingerprints(warehouse, schema),
                _fingerprints(warehouse, schema + "__full"),
            )
            assert set(got) == set(expected), schema
            differ = sorted(n for n in got if got[n] != expected[n])
            assert differ == [], (schema, differ)
        rows = _fingerprints(warehouse, "qbr")
        assert rows["client_metrics_monthly"][0] > 0 and rows["metrics_monthly_collected"][0] > 0
    finally:
        for schema in ("qbr", "qbr_staging", "qbr_intermediate", "qbr_seeds"):
            warehouse.execute(f"drop schema if exists {schema}__full cascade")

    # a data test fails in the data-only path (a ticket twice in staging): marts kept
    marts_before = _fingerprints(warehouse, "qbr")
    warehouse.execute(
        "create temp table dup as select * from raw_connectwise.tickets "
        "where id = (select max(id) from raw_connectwise.tickets); "
        "update dup set _dlt_id = _dlt_id || '-dup'; "
        "insert into raw_connectwise.tickets select * from dup"
    )
    try:
        third = refresh.run_refresh(warehouse.settings, sources=[], trigger="test", echo=False)
        assert third.status == "failed"
        step = third.steps[-1]
        assert step.details["build_mode"] == "data-only"
        assert "unique_key_stg_connectwise__tickets_ticket_id" in step.error
        assert _fingerprints(warehouse, "qbr") == marts_before
        assert (
            warehouse.query("select nspname from pg_namespace where nspname like '%%\\_\\_build'")
            == []
        )
    finally:
        warehouse.execute("delete from raw_connectwise.tickets where _dlt_id like '%%-dup'")


def test_columns_valid_names_each_failing_check(warehouse: Warehouse):
    """The one-node column checks (tests/generic/columns_valid.sql) fail on a null and on a
    value outside the accepted list, one result row per failing check, and pass again once
    the rows are good: the checks they replaced (one node per column) are kept."""
    table = "qbr_intermediate.int_source_coverage_monthly"
    [(month,)] = warehouse.query(f"select min(month_start) from {table}")
    warehouse.execute(f"create table public.coverage_kept as select * from {table}")
    try:
        warehouse.execute(
            f"update {table} set has_quickbooks = null, inventory_reason = 'guessed' "
            "where month_start = %s",
            (month,),
        )
        failed = warehouse.dbt("test", "--select", "columns_valid_int_source_coverage_monthly")
        assert failed.returncode == 1
        assert "FAIL 2 columns_valid_int_source_coverage_monthly" in failed.stdout
    finally:
        warehouse.execute(
            f"delete from {table}; insert into {table} select * from public.coverage_kept; "
            "drop table public.coverage_kept"
        )
    passed = warehouse.dbt("test", "--select", "columns_valid_int_source_coverage_monthly")
    assert passed.returncode == 0, passed.stdout[-3000:]
    assert "PASS=1 " in passed.stdout


def test_latest_in_month_is_unique_by_index(warehouse: Warehouse):
    """One row per vendor, month and device in int_device_snapshots_latest_in_month is
    enforced by a unique index (it replaced a data test that re-read every month): the
    index is there after a build, and a duplicate row is refused."""
    table = "qbr_intermediate.int_device_snapshots_latest_in_month"
    [(definition,)] = warehouse.query(
        "select pg_get_indexdef(i.indexrelid) from pg_index i "
        "where i.indrelid = %s::regclass and i.indisunique",
        (table,),
    )
    assert "(snapshot_month, vendor_id, device_identity_id)" in definition
    with pytest.raises(psycopg.errors.UniqueViolation):
        warehouse.execute(
            f"insert into {table} select * from {table} "
            f"where snapshot_month = (select max(snapshot_month) from {table}) limit 1"
        )


# --- Keys the database enforces, and incremental months as a literal ---------------------
# Checks a data-only build no longer pays for by scanning, on the real small warehouse.
#
# - Keys the database enforces (NOT NULL, and a unique index on the key alone) are kept on
#   every write: a null or a duplicate fails the write. Their data tests stay: `not_null` is
#   planned as "false" without reading a row, `unique_key` reads the catalog and skips its
#   scan, and both still fail when the table no longer enforces the key.
# - An incremental monthly model reads its months from a date literal (evaluated when the
#   model compiles), equal to the rule (latest month held - lookback, or refresh_since).
# (Last in this module: one test drops an index and rebuilds the model it belongs to.)

ENFORCED = {
    "qbr_intermediate.int_device_snapshots_latest_in_month": [
        "snapshot_month",
        "device_identity_id",
    ],
    "qbr_intermediate.int_time_entries_bucketed": ["time_entry_id"],
    "qbr_intermediate.int_tickets_classified": ["ticket_id"],
    "qbr_intermediate.int_time_entries_classified": ["time_entry_id"],
}


def _not_null_columns(warehouse: Warehouse, table: str) -> set[str]:
    rows = warehouse.query(
        "select attname from pg_attribute where attrelid = %s::regclass "
        "and attnum > 0 and attnotnull",
        (table,),
    )
    return {name for (name,) in rows}


def _test_sql(warehouse: Warehouse, test: str) -> str:
    """The SQL the module's first build ran for a data test (its run_results)."""
    [sql] = [
        r["compiled_code"]
        for r in warehouse.first_build["results"]  # type: ignore[attr-defined]
        if r["unique_id"].split(".")[2] == test
    ]
    return sql


def _scans(warehouse: Warehouse, sql: str, table: str) -> list[str]:
    """The plan lines (EXPLAIN ANALYZE) that read `table`."""
    plan = [r[0] for r in warehouse.query("explain analyze " + sql)]
    return [line for line in plan if line.strip().startswith("->") and f" on {table} " in line]


def _compiled_model(warehouse: Warehouse, model: str) -> str:
    path = warehouse.target / "compiled" / "qbr" / "models" / "intermediate" / f"{model}.sql"
    return path.read_text()


def test_enforced_keys_refuse_nulls_and_their_tests_read_no_rows(warehouse: Warehouse):
    for table, columns in ENFORCED.items():
        assert set(columns) <= _not_null_columns(warehouse, table), table
    latest = "qbr_intermediate.int_device_snapshots_latest_in_month"
    with pytest.raises(psycopg.errors.NotNullViolation):
        warehouse.execute(
            f"update {latest} set device_identity_id = null "
            f"where device_identity_id = (select min(device_identity_id) from {latest})"
        )
    # the not_null test dbt ran is answered by the plan alone
    sql = _test_sql(warehouse, "not_null_int_device_snapshots_latest_in_month_device_identity_id")
    plan = "\n".join(r[0] for r in warehouse.query("explain " + sql))
    assert "One-Time Filter: false" in plan, plan
    assert "Seq Scan" not in plan, plan
    # and unique_key's catalog check holds for the enforced keys, not for a view
    sql = _test_sql(warehouse, "unique_key_int_tickets_classified_ticket_id")
    assert warehouse.query(sql.replace("\n", " ")) == []
    [scan] = _scans(warehouse, sql, "int_tickets_classified")
    assert "(never executed)" in scan, scan
    # a view holds no index: its key test scans (the raw tickets under it)
    sql = _test_sql(warehouse, "unique_key_stg_connectwise__tickets_ticket_id")
    [scan] = _scans(warehouse, sql, "tickets")
    assert "(never executed)" not in scan and "rows=0.00" not in scan, scan


def test_unique_key_still_fails_when_the_table_stops_enforcing_the_key(warehouse: Warehouse):
    """The catalog check only skips a scan that could not fail: without the unique index
    the test scans again and finds the duplicate (then the model is rebuilt)."""
    table = "qbr_intermediate.int_tickets_classified"
    [(index,)] = warehouse.query(
        "select indexrelid::regclass::text from pg_index where indrelid = %s::regclass "
        "and indisunique",
        (table,),
    )
    warehouse.execute(
        f"drop index {index}; insert into {table} select * from {table} "
        f"where ticket_id = (select min(ticket_id) from {table})"
    )
    try:
        failed = warehouse.dbt("test", "--select", "unique_key_int_tickets_classified_ticket_id")
        assert failed.returncode != 0
        assert "FAIL 1 unique_key_int_tickets_classified_ticket_id" in failed.stdout, failed.stdout[
            -3000:
        ]
    finally:
        rebuilt = warehouse.dbt("run", "--select", "int_tickets_classified")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    assert warehouse.query(
        "select count(*) from pg_index where indrelid = %s::regclass and indisunique", (table,)
    ) == [(1,)]


def test_incremental_months_are_a_literal_of_the_rule(warehouse: Warehouse):
    [(latest,)] = warehouse.query(
        "select max(snapshot_month) from qbr_intermediate.int_devices_classified"
    )
    lookback = (latest.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    compiled = warehouse.dbt("compile", "--select", "int_devices_classified")
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    assert f"where snapshot_month >= date '{lookback.isoformat()}'" in _compiled_model(
        warehouse, "int_devices_classified"
    )
    # `qbr refresh --since` earlier than that: the earlier month
    since = warehouse.dbt(
        "compile",
        "--select",
        "int_devices_classified",
        "--vars",
        '{"refresh_since": "2020-03"}',
    )
    assert since.returncode == 0, since.stdout[-3000:]
    assert "where snapshot_month >= date '2020-03-01'" in _compiled_model(
        warehouse, "int_devices_classified"
    )
