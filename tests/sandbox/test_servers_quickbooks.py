"""QuickBooks Online imitation over real HTTP: OAuth2 rotation and expiry, query,
CDC, the Profit and Loss report."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from sandbox.servers import Sandbox
from sandbox.servers.testing import TinyMSP


def refresh(sandbox: Sandbox, refresh_token: str, secret: str | None = None) -> requests.Response:
    creds = sandbox.credentials["quickbooks"]
    return requests.post(
        sandbox.urls["quickbooks_token"],
        auth=(creds["client_id"], secret or creds["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={"Accept": "application/json"},
        timeout=5,
    )


class QBO:
    def __init__(self, sandbox: Sandbox, refresh_token: str | None = None) -> None:
        self.sandbox = sandbox
        self.base = sandbox.urls["quickbooks"]
        token = refresh(sandbox, refresh_token or sandbox.qbo_tokens.latest_refresh_token)
        assert token.status_code == 200, token.text
        self.access = token.json()["access_token"]

    def get(self, path: str, **params: object) -> requests.Response:
        params.setdefault("minorversion", 75)
        return requests.get(
            self.base + path,
            params={k: v for k, v in params.items() if v is not None},
            headers={"Authorization": f"Bearer {self.access}", "Accept": "application/json"},
            timeout=10,
        )

    def query(self, text: str) -> requests.Response:
        return self.get("query", query=text)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(TinyMSP()) as sb:
        yield sb


@pytest.fixture(scope="module")
def qbo(sandbox: Sandbox) -> QBO:
    return QBO(sandbox)


# --- OAuth2 -------------------------------------------------------------------


def test_refresh_tokens_rotate_and_the_old_one_dies() -> None:
    with Sandbox(TinyMSP()) as sb:
        first = sb.credentials["quickbooks"]["refresh_token"]
        issued = refresh(sb, first)
        assert issued.status_code == 200
        body = issued.json()
        assert set(body) == {
            "access_token",
            "expires_in",
            "refresh_token",
            "x_refresh_token_expires_in",
            "token_type",
        }
        assert body["expires_in"] == 3600 and body["token_type"] == "bearer"
        assert body["refresh_token"] != first
        reused = refresh(sb, first)
        assert reused.status_code == 400 and reused.json() == {"error": "invalid_grant"}
        again = refresh(sb, body["refresh_token"])
        assert again.status_code == 200
        assert refresh(sb, body["refresh_token"]).json() == {"error": "invalid_grant"}
        assert refresh(sb, "made-up").status_code == 400
        bad_client = refresh(sb, again.json()["refresh_token"], secret="wrong")
        assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"


def test_refresh_token_survives_a_restart_with_a_token_file(tmp_path) -> None:
    token_file = tmp_path / "qbo_tokens.json"
    with Sandbox(TinyMSP(), token_file=token_file) as sb:
        newest = refresh(sb, sb.credentials["quickbooks"]["refresh_token"]).json()["refresh_token"]
    with Sandbox(TinyMSP(), token_file=token_file) as sb:
        assert refresh(sb, newest).status_code == 200


def test_access_tokens_expire() -> None:
    with Sandbox(TinyMSP(), access_token_lifetime=0.3) as sb:
        client = QBO(sb)
        assert client.query("SELECT COUNT(*) FROM Invoice").status_code == 200
        time.sleep(0.4)
        expired = client.query("SELECT COUNT(*) FROM Invoice")
        assert expired.status_code == 401
        error = expired.json()["Fault"]["Error"][0]
        assert error["code"] == "3200" and "AuthenticationFailed" in error["Message"]
        assert QBO(sb).query("SELECT COUNT(*) FROM Invoice").status_code == 200


def test_requests_without_a_valid_token_or_realm_are_refused(sandbox: Sandbox, qbo: QBO) -> None:
    url = sandbox.urls["quickbooks"] + "query"
    missing = requests.get(url, params={"query": "SELECT * FROM Invoice"}, timeout=5)
    assert missing.status_code == 401
    assert missing.json()["Fault"]["Error"][0]["code"] == "3200"
    other_realm = url.replace(sandbox.credentials["quickbooks"]["realm_id"], "123")
    wrong = requests.get(
        other_realm,
        params={"query": "SELECT * FROM Invoice"},
        headers={"Authorization": f"Bearer {qbo.access}"},
        timeout=5,
    )
    assert wrong.status_code == 403


# --- query --------------------------------------------------------------------


def test_query_envelope_and_paging(qbo: QBO, sandbox: Sandbox) -> None:
    seen: list[dict] = []
    start = 1
    while True:
        body = qbo.query(f"SELECT * FROM Invoice STARTPOSITION {start} MAXRESULTS 5").json()
        assert set(body) == {"QueryResponse", "time"}
        page = body["QueryResponse"].get("Invoice", [])
        if page:
            assert body["QueryResponse"]["startPosition"] == start
            assert body["QueryResponse"]["maxResults"] == len(page)
        seen += page
        if len(page) < 5:
            break
        start += 5
    assert seen == sorted(sandbox.msp.qbo_invoices, key=lambda r: int(r["Id"]))


def test_query_default_and_maximum_page(qbo: QBO) -> None:
    assert qbo.query("SELECT * FROM Invoice").json()["QueryResponse"]["maxResults"] == 12
    assert qbo.query("SELECT * FROM Invoice MAXRESULTS 5000").status_code == 200


def test_query_filters_order_and_count(qbo: QBO, sandbox: Sandbox) -> None:
    cutoff = "2025-01-20T00:00:00-00:00"
    recent = qbo.query(
        f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '{cutoff}' ORDERBY Id DESC"
    ).json()["QueryResponse"]["Invoice"]
    limit = dt.datetime(2025, 1, 20, tzinfo=dt.UTC)
    expected = [
        i["Id"]
        for i in sandbox.msp.qbo_invoices
        if dt.datetime.fromisoformat(i["MetaData"]["LastUpdatedTime"]) > limit
    ]
    assert [i["Id"] for i in recent] == sorted(expected, key=int, reverse=True)
    assert qbo.query("SELECT COUNT(*) FROM Invoice").json()["QueryResponse"] == {"totalCount": 12}
    assert qbo.query("SELECT COUNT(*) FROM Invoice WHERE TotalAmt >= '600'").json()[
        "QueryResponse"
    ] == {"totalCount": 7}
    inside = qbo.query("SELECT * FROM Invoice WHERE Id IN ('101', '105')").json()
    assert [i["Id"] for i in inside["QueryResponse"]["Invoice"]] == ["101", "105"]
    like = qbo.query("SELECT * FROM Invoice WHERE DocNumber LIKE 'INV-001%'").json()
    assert [i["DocNumber"] for i in like["QueryResponse"]["Invoice"]] == [
        "INV-0010",
        "INV-0011",
        "INV-0012",
    ]
    by_customer = qbo.query("SELECT * FROM Invoice WHERE CustomerRef = '1'").json()
    assert all(i["CustomerRef"]["value"] == "1" for i in by_customer["QueryResponse"]["Invoice"])


def test_empty_result_has_no_entity_key(qbo: QBO) -> None:
    body = qbo.query("SELECT * FROM Invoice WHERE TotalAmt > '999999'").json()
    assert body["QueryResponse"] == {}
    assert qbo.query("SELECT * FROM Bill").json()["QueryResponse"] == {}  # real, but none here
    assert qbo.query("SELECT * FROM Invoice STARTPOSITION 500").json()["QueryResponse"] == {}


def test_inactive_name_list_rows_need_active_in_the_where(qbo: QBO) -> None:
    default = qbo.query("SELECT * FROM Customer").json()["QueryResponse"]["Customer"]
    assert [c["Id"] for c in default] == ["1", "2"]
    everyone = qbo.query("SELECT * FROM Customer WHERE Active IN (true, false)").json()
    assert [c["Id"] for c in everyone["QueryResponse"]["Customer"]] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("SELECT * FROM invoice", "entity"),  # entity names are case-sensitive
        ("SELECT * FROM Widget", "entity"),
        ("SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'", "OR"),
        ("SELECT * FROM Invoice WHERE", "QueryParserError"),
        ("SELEC * FROM Invoice", "QueryParserError"),
        ("SELECT * FROM Invoice WHERE Nonsense = '1'", "not queryable"),
    ],
)
def test_bad_queries_are_validation_faults(qbo: QBO, text: str, needle: str) -> None:
    response = qbo.query(text)
    assert response.status_code == 400
    body = response.json()
    assert body["Fault"]["type"] == "ValidationFault"
    error = body["Fault"]["Error"][0]
    assert set(error) == {"Message", "Detail", "code"}
    assert needle in error["Detail"]
    assert "time" in body


def test_missing_minorversion_is_accepted_and_recorded(qbo: QBO, sandbox: Sandbox) -> None:
    before = sandbox.status()["sources"]["quickbooks"]["notes"].get(
        "requests_without_minorversion", 0
    )
    response = qbo.get("query", query="SELECT COUNT(*) FROM Item", minorversion=None)
    assert response.status_code == 200
    notes = sandbox.status()["sources"]["quickbooks"]["notes"]
    assert notes["requests_without_minorversion"] == before + 1


def test_read_one(qbo: QBO) -> None:
    body = qbo.get("invoice/103").json()
    assert body["Invoice"]["DocNumber"] == "INV-0003"
    assert qbo.get("invoice/999").status_code == 400


# --- change data capture ---------------------------------------------------------


def test_cdc_reports_changes_and_deletions_after_advance() -> None:
    with Sandbox(TinyMSP()) as sb:
        client = QBO(sb)
        since = sb.msp.now.isoformat()
        quiet = client.get("cdc", entities="Invoice,Customer", changedSince=since).json()
        assert quiet["CDCResponse"] == [{"QueryResponse": [{}, {}]}]
        first_invoice = sb.msp.qbo_invoices[0]["Id"]
        sb.advance(1)
        body = client.get("cdc", entities="Invoice,Customer", changedSince=since).json()
        assert set(body) == {"CDCResponse", "time"}
        invoices, customers = body["CDCResponse"][0]["QueryResponse"]
        assert customers == {}
        assert invoices["Invoice"] == [
            {
                "domain": "QBO",
                "status": "Deleted",
                "Id": first_invoice,
                "MetaData": {
                    "LastUpdatedTime": invoices["Invoice"][0]["MetaData"]["LastUpdatedTime"]
                },
            }
        ]
        old = (sb.msp.now - dt.timedelta(days=31)).isoformat()
        too_old = client.get("cdc", entities="Invoice", changedSince=old)
        assert too_old.status_code == 400
        assert too_old.json()["Fault"]["type"] == "ValidationFault"
        lower = client.get("cdc", entities="invoice", changedSince=since).json()
        assert "Invoice" in lower["CDCResponse"][0]["QueryResponse"][0]
        unknown = client.get("cdc", entities="Widget", changedSince=since)
        assert unknown.status_code == 400


def test_cdc_returns_changed_records() -> None:
    msp = TinyMSP()
    msp.now = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    with Sandbox(msp) as sb:
        body = QBO(sb).get("cdc", entities="Invoice", changedSince="2025-01-25T00:00:00Z").json()
        changed = body["CDCResponse"][0]["QueryResponse"][0]["Invoice"]
        stamps = [i["MetaData"]["LastUpdatedTime"] for i in changed]
        assert stamps == sorted(stamps)
        assert [i["Id"] for i in changed] == ["108", "109", "110", "111", "112"]
        assert all("status" not in i for i in changed)


# --- Profit and Loss ---------------------------------------------------------------


def data_rows(rows: list[dict]) -> Iterator[dict]:
    """Every row that carries an account's amounts: data rows and (the real
    shape) the headers of parent accounts' sections, which hold the parent's
    own postings."""
    for row in rows:
        if row.get("type") == "Data":
            yield row
        header = row.get("Header", {}).get("ColData") or [{}]
        if header[0].get("id"):
            yield {"ColData": header, "type": "Header"}
        yield from data_rows(row.get("Rows", {}).get("Row", []))


def test_profit_and_loss_has_the_real_shape(qbo: QBO) -> None:
    """SOURCES.md "Real formats": a parent's own postings are its section
    header's amounts (not a Data row), a parent without own postings has empty
    strings there, months without activity are "", the Total column closes each
    row, and an empty window is NoReportData with no rows."""
    report = qbo.get(
        "reports/ProfitAndLoss",
        start_date="2025-01-01",
        end_date="2025-03-31",
        summarize_column_by="Month",
    ).json()
    income, _cogs, _gross, expenses, *_ = report["Rows"]["Row"]
    parent = next(r for r in income["Rows"]["Row"] if r.get("type") == "Section")
    assert parent["Header"]["ColData"] == [
        {"value": "Managed Services Income", "id": "40"},
        {"value": "1000.00"},
        {"value": ""},
        {"value": ""},
        {"value": "1000.00"},
    ]
    assert [r["ColData"][0]["id"] for r in parent["Rows"]["Row"]] == ["41"]
    assert [c["value"] for c in parent["Summary"]["ColData"][1:]] == [
        "1500.00", "550.00", "0.00", "2050.00",
    ]  # fmt: skip
    payroll = next(r for r in expenses["Rows"]["Row"] if r.get("type") == "Section")
    assert [c["value"] for c in payroll["Header"]["ColData"]] == ["Payroll Expenses", *[""] * 4]
    officer = next(r for r in payroll["Rows"]["Row"] if r["ColData"][0]["id"] == "64")
    assert [c["value"] for c in officer["ColData"][1:]] == ["", "", "2000.00", "2000.00"]
    options = {o["Name"]: o["Value"] for o in report["Header"]["Option"]}
    assert options["NoReportData"] == "false"

    empty = qbo.get(
        "reports/ProfitAndLoss",
        start_date="2024-01-01",
        end_date="2024-03-31",
        summarize_column_by="Month",
    ).json()
    options = {o["Name"]: o["Value"] for o in empty["Header"]["Option"]}
    assert options["NoReportData"] == "true"
    assert empty["Rows"] == {}


def test_profit_and_loss_matches_the_books(qbo: QBO, sandbox: Sandbox) -> None:
    start, end = dt.date(2025, 1, 1), dt.date(2025, 3, 31)
    report = qbo.get(
        "reports/ProfitAndLoss",
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        accounting_method="Accrual",
        summarize_column_by="Month",
    ).json()
    columns = report["Columns"]["Column"]
    assert [c["ColTitle"] for c in columns] == ["", "Jan 2025", "Feb 2025", "Mar 2025", "Total"]
    assert [c["ColType"] for c in columns] == ["Account", "Money", "Money", "Money", "Money"]
    assert report["Header"]["ReportBasis"] == "Accrual"
    groups = [r["group"] for r in report["Rows"]["Row"]]
    assert groups == [
        "Income",
        "COGS",
        "GrossProfit",
        "Expenses",
        "NetOperatingIncome",
        "OtherIncome",
        "OtherExpenses",
        "NetOtherIncome",
        "NetIncome",
    ]
    months = [dt.date(2025, m, 1) for m in (1, 2, 3)]
    books = sandbox.msp.profit_and_loss(start, end)
    seen: dict[tuple[str, dt.date], Decimal] = {}
    for row in data_rows(report["Rows"]["Row"]):
        first, *cells = row["ColData"]
        assert first["id"] and first["value"]
        amounts = [Decimal(c["value"]) if c["value"] else Decimal(0) for c in cells]
        assert amounts[-1] == sum(amounts[:-1])  # Total column
        for month, amount in zip(months, amounts[:-1], strict=True):
            if amount:
                seen[(first["id"], month)] = amount
    assert seen == {k: v for k, v in books.items() if v}

    # sub-accounts nest inside their parent's section
    income_rows = report["Rows"]["Row"][0]["Rows"]["Row"]
    parent = next(r for r in income_rows if r.get("type") == "Section")
    assert parent["Header"]["ColData"][0] == {"value": "Managed Services Income", "id": "40"}
    assert parent["Summary"]["ColData"][-1]["value"] == "2050.00"

    def total(group: str) -> Decimal:
        row = next(r for r in report["Rows"]["Row"] if r["group"] == group)
        return Decimal(row["Summary"]["ColData"][-1]["value"])

    income = sum(v for (a, _), v in books.items() if a in {"40", "41", "46"})
    cogs = books[("50", dt.date(2025, 2, 1))]
    expenses = sum(v for (a, _), v in books.items() if a in {"60", "61", "64", "70"})
    assert total("Income") == income
    assert total("GrossProfit") == income - cogs
    assert total("NetOperatingIncome") == income - cogs - expenses
    assert total("NetIncome") == income - cogs - expenses + Decimal("12.34") - Decimal("45.67")


def test_a_fixture_report_is_served_in_place_of_the_books(qbo: QBO, sandbox: Sandbox) -> None:
    """PUT /_sandbox/quickbooks/report: the document answers requests that
    overlap its period, others get the real empty report; DELETE restores."""
    url = sandbox.control_urls["quickbooks"] + "quickbooks/report"
    assert requests.put(url, json=["not", "a", "report"], timeout=5).status_code == 400
    document = {
        "Header": {"StartPeriod": "2024-03-01", "EndPeriod": "2024-03-31", "Option": []},
        "Columns": {"Column": []},
        "Rows": {"Row": [{"group": "Income", "marker": "fixture"}]},
    }
    assert requests.put(url, json=document, timeout=5).json() == {"fixture": True}
    try:
        asked = qbo.get("reports/ProfitAndLoss", start_date="2024-01-01", end_date="2024-12-31")
        assert asked.json() == document
        other = qbo.get("reports/ProfitAndLoss", start_date="2025-01-01", end_date="2025-03-31")
        options = {o["Name"]: o["Value"] for o in other.json()["Header"]["Option"]}
        assert options["NoReportData"] == "true" and other.json()["Rows"] == {}
    finally:
        assert requests.delete(url, timeout=5).json() == {"fixture": False}
    books = qbo.get("reports/ProfitAndLoss", start_date="2025-01-01", end_date="2025-03-31")
    assert books.json()["Rows"]["Row"][0]["group"] == "Income"
    assert books.json()["Header"]["Option"][1] == {"Name": "NoReportData", "Value": "false"}


def test_profit_and_loss_total_and_partial_months(qbo: QBO) -> None:
    report = qbo.get("reports/ProfitAndLoss", start_date="2025-02-10", end_date="2025-03-31").json()
    assert [c["ColTitle"] for c in report["Columns"]["Column"]] == ["", "Total"]
    monthly = qbo.get(
        "reports/ProfitAndLoss",
        start_date="2025-02-10",
        end_date="2025-03-15",
        summarize_column_by="Month",
        accounting_method="Cash",
    ).json()
    titles = [c["ColTitle"] for c in monthly["Columns"]["Column"]]
    assert titles == ["", "Feb 10-28, 2025", "Mar 1-15, 2025", "Total"]
    assert monthly["Header"]["ReportBasis"] == "Cash"
    bad = qbo.get("reports/ProfitAndLoss", start_date="2025-03-01", end_date="2025-01-01")
    assert bad.status_code == 400


def test_generated_profit_and_loss_matches_the_books(generated: Sandbox) -> None:
    start, end = dt.date(2025, 1, 1), dt.date(2025, 5, 31)
    report = (
        QBO(generated)
        .get(
            "reports/ProfitAndLoss",
            start_date=start.isoformat(),
            end_date=end.isoformat(),
            summarize_column_by="Month",
        )
        .json()
    )
    months = [dt.date(2025, m, 1) for m in range(1, 6)]
    seen: dict[tuple[str, dt.date], Decimal] = {}
    for row in data_rows(report["Rows"]["Row"]):
        first, *cells = row["ColData"]
        for month, cell in zip(months, cells[:-1], strict=True):
            if cell["value"] and Decimal(cell["value"]):
                seen[(first["id"], month)] = Decimal(cell["value"])
    books = generated.msp.profit_and_loss(start, end)
    assert seen == {(str(a), m): v for (a, m), v in books.items() if v}


def test_generated_invoices_page_to_the_full_list(generated: Sandbox) -> None:
    client = QBO(generated)
    seen: list[str] = []
    start = 1
    while True:
        page = client.query(f"SELECT * FROM Invoice STARTPOSITION {start} MAXRESULTS 1000").json()
        rows = page["QueryResponse"].get("Invoice", [])
        seen += [r["Id"] for r in rows]
        if len(rows) < 1000:
            break
        start += 1000
    assert sorted(seen) == sorted(i["Id"] for i in generated.msp.qbo_invoices)
