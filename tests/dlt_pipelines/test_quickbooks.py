"""QuickBooks Online -> raw_quickbooks over real HTTP against the sandbox.

Full load, the P&L, token rotation, expiry mid-run, invalid grant, changes
after a day (incl. CDC deletions and back-dated P&L changes), faults and
malformed records.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dlt_pipelines import quickbooks
from dlt_pipelines.auth import MemoryTokenStore
from dlt_pipelines.errors import SourceError
from sandbox.servers.quickbooks import build_profit_and_loss
from tests.dlt_pipelines.conftest import columns, qbo_config, query, scalar, served_report

ENTITIES = {
    "accounts": "qbo_accounts",
    "customers": "qbo_customers",
    "items": "qbo_items",
    "invoices": "qbo_invoices",
    "payments": "qbo_payments",
    "credit_memos": "qbo_credit_memos",
}
HISTORY = date(2025, 1, 1)


def stored_token(settings: Any) -> dict | None:
    rows = query(
        settings, "select data from qbr_app.source_credentials where source = 'quickbooks'"
    )
    return rows[0][0] if rows else None


def live_ids(settings: Any, table: str) -> set[str]:
    return {
        r[0]
        for r in query(settings, f"select id from raw_quickbooks.{table} where _deleted_at is null")
    }


def online_pnl(settings: Any, months: tuple[date, date] | None = None) -> dict:
    sql = (
        "select account_id, month, amount from raw_quickbooks.profit_and_loss "
        "where origin = 'online'"
    )
    rows = query(settings, sql)
    return {(a, m): v for a, m, v in rows if months is None or months[0] <= m <= months[1]}


def expected_pnl(msp: Any, first: date) -> dict:
    last = msp.now.date()
    return {
        (str(k[0]), k[1]): Decimal(str(v)) for k, v in msp.profit_and_loss(first, last).items() if v
    }


@pytest.fixture(scope="module")
def first_load(sandbox: Any, warehouse: Any) -> Any:
    return quickbooks.run(warehouse, qbo_config(sandbox))


def test_full_load_holds_exactly_the_sandbox_records(first_load: Any, sandbox: Any, warehouse: Any):
    msp = sandbox.msp
    for table, attr in ENTITIES.items():
        assert live_ids(warehouse, table) == {str(r["Id"]) for r in getattr(msp, attr)}, table
        assert first_load.details["tables"][table] == len(getattr(msp, attr))
    lines = sum(len(i.get("Line") or []) for i in msp.qbo_invoices)
    assert scalar(warehouse, "select count(*) from raw_quickbooks.invoices__line") == lines
    assert first_load.details["rows_rejected"] == 0


def test_spot_values(first_load: Any, sandbox: Any, warehouse: Any):
    invoice = sandbox.msp.qbo_invoices[-1]
    row = query(
        warehouse,
        "select doc_number, txn_date, customer_ref__value, total_amt, balance "
        "from raw_quickbooks.invoices where id = %s",
        (invoice["Id"],),
    )[0]
    assert row == (
        invoice["DocNumber"],
        date.fromisoformat(invoice["TxnDate"]),
        invoice["CustomerRef"]["value"],
        Decimal(str(invoice["TotalAmt"])),
        Decimal(str(invoice["Balance"])),
    )
    sales = [x for x in invoice["Line"] if x["DetailType"] == "SalesItemLineDetail"]
    got = query(
        warehouse,
        "select l.sales_item_line_detail__item_ref__value, l.amount "
        "from raw_quickbooks.invoices__line l join raw_quickbooks.invoices i "
        "on l._dlt_parent_id = i._dlt_id where i.id = %s and l.detail_type = "
        "'SalesItemLineDetail' order by l._dlt_list_idx",
        (invoice["Id"],),
    )
    assert got == [
        (x["SalesItemLineDetail"]["ItemRef"]["value"], Decimal(str(x["Amount"]))) for x in sales
    ]
    inactive = [c for c in sandbox.msp.qbo_customers if c.get("Active") is False]
    for customer in inactive:  # hidden from plain queries, still loaded
        assert (
            scalar(
                warehouse,
                "select active from raw_quickbooks.customers where id = %s",
                (customer["Id"],),
            )
            is False
        )


def test_profit_and_loss_is_the_report_by_account_and_month(
    first_load: Any, sandbox: Any, warehouse: Any
):
    assert online_pnl(warehouse) == expected_pnl(sandbox.msp, HISTORY)
    shape = columns(warehouse, "raw_quickbooks", "profit_and_loss")
    assert {k: shape[k] for k in ("origin", "account_key", "account_id", "month", "amount")} == {
        "origin": "character varying",
        "account_key": "character varying",
        "account_id": "character varying",
        "month": "date",
        "amount": "numeric",
    }
    assert set(shape) >= {
        "account_name", "section", "section_path", "accounting_method", "source_file", "loaded_at",
    }  # fmt: skip
    officer = query(
        warehouse,
        "select distinct account_key, account_name, section, section_path, accounting_method "
        "from raw_quickbooks.profit_and_loss where account_id = '64'",
    )
    assert officer == [
        (
            "64",
            "Officer Payroll",
            "Expenses",
            "Expenses/Payroll Expenses/Officer Payroll",
            "Accrual",
        )
    ]


def test_rerun_without_changes_loads_no_entity_rows(first_load: Any, sandbox: Any, warehouse: Any):
    before = {t: scalar(warehouse, f"select count(*) from raw_quickbooks.{t}") for t in ENTITIES}
    again = quickbooks.run(warehouse, qbo_config(sandbox))
    assert {t: again.details["tables"].get(t, 0) for t in ENTITIES} == dict.fromkeys(ENTITIES, 0)
    assert again.rows_loaded == again.details["tables"]["profit_and_loss"]  # 13 months re-read
    assert {t: scalar(warehouse, f"select count(*) from raw_quickbooks.{t}") for t in ENTITIES} == (
        before
    )
    assert again.details["rows_marked_deleted"] == 0


def test_the_rotated_refresh_token_is_persisted_and_used(
    first_load: Any, sandbox: Any, warehouse: Any
):
    saved = stored_token(warehouse)
    initial = sandbox.credentials["quickbooks"]["refresh_token"]
    assert saved["refresh_token"] == sandbox.qbo_tokens.latest_refresh_token != initial
    assert saved["realm_id"] == sandbox.credentials["quickbooks"]["realm_id"]
    assert initial not in str(saved)  # only a fingerprint of the configured token
    # the initial token is dead now (rotated); the run still works from the stored one
    quickbooks.run(warehouse, qbo_config(sandbox), resources=("accounts",))
    assert stored_token(warehouse)["refresh_token"] == sandbox.qbo_tokens.latest_refresh_token
    assert stored_token(warehouse)["refresh_token"] != saved["refresh_token"]


def test_an_access_token_expiring_mid_run_is_refreshed(
    first_load: Any, sandbox: Any, warehouse: Any
):
    before = stored_token(warehouse)["refresh_token"]
    sandbox.fault("quickbooks", "expired_token", count=2)
    result = quickbooks.run(warehouse, qbo_config(sandbox), full=True)
    assert not sandbox.faults("quickbooks").active()
    assert result.details["tables"]["invoices"] == len(sandbox.msp.qbo_invoices)
    assert stored_token(warehouse)["refresh_token"] == sandbox.qbo_tokens.latest_refresh_token
    assert stored_token(warehouse)["refresh_token"] != before


def test_an_invalid_refresh_token_stops_only_this_source_with_instructions(
    first_load: Any, sandbox: Any, warehouse: Any
):
    store = MemoryTokenStore({"refresh_token": "revoked", "realm_id": "9341453050000000"})
    config = {**qbo_config(sandbox), "refresh_token": "also-revoked"}
    before = scalar(warehouse, "select count(*) from raw_quickbooks.invoices")
    with pytest.raises(SourceError) as failure:
        quickbooks.run(warehouse, config, token_store=store)
    message = str(failure.value)
    assert "invalid_grant" in message and "re-authorize" in message
    assert "SOURCES__QUICKBOOKS__REFRESH_TOKEN" in message and "\n" not in message
    assert scalar(warehouse, "select count(*) from raw_quickbooks.invoices") == before


def test_a_newly_configured_token_wins_over_the_stored_one(sandbox: Any, warehouse: Any):
    """After re-authorizing, the operator's new token is used (not the old stored one)."""
    fresh = sandbox.qbo_tokens.latest_refresh_token  # stands in for a newly issued token
    store = MemoryTokenStore(
        {"refresh_token": "stale", "realm_id": "9341453050000000", "configured_fingerprint": "x"}
    )
    quickbooks.run(
        warehouse, {**qbo_config(sandbox), "refresh_token": fresh}, token_store=store,
        resources=("items",),
    )  # fmt: skip
    assert store.data["refresh_token"] == sandbox.qbo_tokens.latest_refresh_token
    # hand the rotation back to the warehouse's own store
    from dlt_pipelines.auth import DbTokenStore

    DbTokenStore(warehouse, "quickbooks").save(store.data)


def test_changes_after_a_day(first_load: Any, sandbox: Any, warehouse: Any):
    msp = sandbox.msp
    before = {t: live_ids(warehouse, t) for t in ENTITIES}
    sandbox.advance(1)
    deleted = {t: before[t] - {str(r["Id"]) for r in getattr(msp, a)} for t, a in ENTITIES.items()}
    result = quickbooks.run(warehouse, qbo_config(sandbox))
    for table, attr in ENTITIES.items():
        assert live_ids(warehouse, table) == {str(r["Id"]) for r in getattr(msp, attr)}, table
        gone = {
            r[0]
            for r in query(
                warehouse, f"select id from raw_quickbooks.{table} where _deleted_at is not null"
            )
        }
        assert deleted[table] <= gone, table
    assert result.details["rows_marked_deleted"] == sum(len(v) for v in deleted.values())
    entity_rows = result.rows_loaded - result.details["tables"].get("profit_and_loss", 0)
    assert entity_rows < 0.2 * sum(len(getattr(msp, a)) for a in ENTITIES.values())
    # the last 13 months of the P&L were re-read and equal the books now
    today = msp.now.date()
    index = today.year * 12 + today.month - 13
    first = date(index // 12, index % 12 + 1, 1)
    assert online_pnl(warehouse, (first, today)) == {
        k: v for k, v in expected_pnl(msp, HISTORY).items() if k[1] >= first
    }


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("rate_limit", {"count": 2, "retry_after": 1}),
        ("server_error", {"count": 2}),
        ("drop_connection", {"page": 1, "mode": "mid_response"}),
    ],
)
def test_transient_faults_complete(first_load: Any, sandbox: Any, warehouse: Any, kind, options):
    sandbox.fault("quickbooks", kind, path="/query", **options)
    quickbooks.run(warehouse, qbo_config(sandbox), full=True)
    assert not sandbox.faults("quickbooks").active()
    for table, attr in ENTITIES.items():
        assert live_ids(warehouse, table) == {str(r["Id"]) for r in getattr(sandbox.msp, attr)}


def test_a_validation_fault_fails_with_the_servers_message(sandbox: Any, warehouse: Any):
    before = scalar(warehouse, "select count(*) from raw_quickbooks.profit_and_loss")
    with pytest.raises(SourceError, match=r"QuickBooks answered 400 .*accounting_method"):
        quickbooks.run(
            warehouse, qbo_config(sandbox), resources=("profit_and_loss",),
            accounting_method="Modified",
        )  # fmt: skip
    assert scalar(warehouse, "select count(*) from raw_quickbooks.profit_and_loss") == before


def test_malformed_records_are_set_aside(first_load: Any, sandbox: Any, warehouse: Any):
    shape = columns(warehouse, "raw_quickbooks", "invoices")
    count = scalar(warehouse, "select count(*) from raw_quickbooks.invoices")
    sandbox.fault("quickbooks", "malformed_record", path="/query")
    result = quickbooks.run(warehouse, qbo_config(sandbox), full=True, resources=("invoices",))
    assert result.details["rows_rejected"] == 3
    reasons = sorted(
        r[0]
        for r in query(
            warehouse,
            "select reason from raw_quickbooks.rejected_records where resource = 'invoices'",
        )
    )
    assert len(reasons) == 3
    assert any(r == "missing Id" for r in reasons)
    assert any("is negative" in r for r in reasons)
    assert any("TotalAmt is not a money" in r for r in reasons)
    assert scalar(warehouse, "select count(*) from raw_quickbooks.invoices") == count
    assert columns(warehouse, "raw_quickbooks", "invoices") == shape


def test_since_rereads_the_pnl_from_that_month(first_load: Any, sandbox: Any, warehouse: Any):
    result = quickbooks.run(
        warehouse, qbo_config(sandbox), since=date(2025, 3, 1), resources=("profit_and_loss",)
    )
    months = {m for _, m in expected_pnl(sandbox.msp, date(2025, 3, 1))}
    assert result.details["tables"]["profit_and_loss"] == len(
        [k for k in expected_pnl(sandbox.msp, HISTORY) if k[1] in months]
    )
    assert online_pnl(warehouse) == expected_pnl(sandbox.msp, HISTORY)
    assert date(2025, 3, 1) - timedelta(days=1) < min(months)


def _parent_own_income(warehouse: Any) -> dict:
    return {
        m: v
        for m, v in query(
            warehouse,
            "select month, amount from raw_quickbooks.profit_and_loss "
            "where origin = 'online' and account_id = '40'",
        )
    }


def test_a_parents_own_postings_in_its_header_land_as_its_amounts(
    first_load: Any, sandbox: Any, warehouse: Any
):
    """The real shape puts Managed Services Income's own postings in its
    section Header (issue 11 item 1): before, they were dropped and revenue
    understated. They land as account 40's amounts, path Income/<parent>."""
    books = {m: v for (a, m), v in expected_pnl(sandbox.msp, HISTORY).items() if a == "40"}
    assert books  # the sandbox's books have such postings
    assert _parent_own_income(warehouse) == books
    paths = query(
        warehouse,
        "select distinct section_path from raw_quickbooks.profit_and_loss where account_id = '40'",
    )
    assert paths == [("Income/Managed Services Income",)]


def test_a_report_that_does_not_reconcile_fails_loudly_and_keeps_the_previous_pnl(
    first_load: Any, sandbox: Any, warehouse: Any
):
    before = online_pnl(warehouse)
    start, end = date(2026, 1, 1), date(2026, 10, 31)
    report = build_profit_and_loss(sandbox.msp, start, end, "Accrual", "Month", "now")
    income = report["Rows"]["Row"][0]
    row = next(r for r in income["Rows"]["Row"] if r.get("type") == "Data")
    cell = next(c for c in row["ColData"][1:-1] if c["value"])
    cell["value"] = str(Decimal(cell["value"]) + Decimal("0.01"))  # one cent off
    with served_report(sandbox, report), pytest.raises(SourceError) as failed:
        quickbooks.run(warehouse, qbo_config(sandbox), since=start, resources=("profit_and_loss",))
    message = str(failed.value)
    assert "does not reconcile" in message and "Income / " in message
    assert "\n" not in message
    assert online_pnl(warehouse) == before  # nothing loaded
