"""The small pure pieces of the pipelines, without HTTP or a database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import requests
from requests import Request, Response

from dlt_pipelines import pnl
from dlt_pipelines.auth import MemoryTokenStore, QuickBooksOAuth2, fingerprint
from dlt_pipelines.errors import ReauthorizationRequired, SourceError, one_line
from dlt_pipelines.paginators import AfterIdPaginator, QueryPaginator
from dlt_pipelines.quarantine import Field, Rules, validate
from dlt_pipelines.quickbooks_desktop import month_header, month_of

RULES = Rules(
    (
        Field("id", "int", required=True),
        Field("_info.lastUpdated", "datetime", required=True),
        Field("actualHours", "number", non_negative=True),
        Field("closedFlag", "bool"),
    )
)
GOOD = {"id": 1, "_info": {"lastUpdated": "2025-01-03T15:22:10Z"}, "actualHours": 1.5}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (GOOD, None),
        ({**GOOD, "actualHours": None}, None),
        ({k: v for k, v in GOOD.items() if k != "id"}, "missing id"),
        ({**GOOD, "id": "bad-1"}, "id is not an integer: 'bad-1'"),
        ({**GOOD, "actualHours": "not-a-number"}, "actualHours is not a number"),
        ({**GOOD, "actualHours": -2.0}, "actualHours is negative: -2.0"),
        ({**GOOD, "closedFlag": "maybe"}, "closedFlag is not a bool"),
        ({**GOOD, "_info": {}}, "missing _info.lastUpdated"),
        ({**GOOD, "_info": {"lastUpdated": "yesterday"}}, "_info.lastUpdated is not a date-time"),
        ("not a record", "record is a str, not an object"),
    ],
)
def test_validation_reasons(record, reason):
    got = validate(record, RULES)
    assert got == reason or (reason and got and got.startswith(reason))


def test_undeclared_fields_are_checked_against_the_existing_columns():
    known = {"budget": "double", "count_of": "bigint", "note": "text"}
    assert validate({**GOOD, "budget": "lots"}, RULES, known) == (
        "budget is not a double like the existing column: 'lots'"
    )
    assert validate({**GOOD, "countOf": 2.5, "note": "x"}, RULES, known) is None


def _response(body: object = None, status: int = 200) -> Response:
    response = Response()
    response.status_code = status
    response._content = b"{}"
    return response


def test_query_paginator_pages_by_startposition():
    paginator = QueryPaginator("SELECT * FROM Invoice ORDERBY Id", 2)
    request = Request("GET", "http://x/query", params={"minorversion": "75"})
    paginator.init_request(request)
    assert request.params["query"].endswith("STARTPOSITION 1 MAXRESULTS 2")
    paginator.update_state(_response(), [{}, {}])
    paginator.update_request(request)
    assert request.params["query"].endswith("STARTPOSITION 3 MAXRESULTS 2")
    assert paginator.has_next_page and request.params["minorversion"] == "75"
    paginator.update_state(_response(), [{}])
    assert not paginator.has_next_page
    with pytest.raises(ValueError):
        QueryPaginator("SELECT * FROM Invoice STARTPOSITION 5", 2)


def test_after_id_paginator_follows_the_last_id_and_stops_on_a_short_page():
    paginator = AfterIdPaginator(2)
    request = Request("GET", "http://x/v2/devices")
    paginator.init_request(request)
    assert request.params == {"pageSize": 2}
    paginator.update_state(_response(), [{"id": 5}, {"id": 9}])
    paginator.update_request(request)
    assert request.params["after"] == 9 and paginator.has_next_page
    paginator.update_state(_response(), [{"id": 3}, {"id": 4}])  # no progress: stop
    assert not paginator.has_next_page
    paginator = AfterIdPaginator(2)
    paginator.update_state(_response(), [{"id": 1}])
    assert not paginator.has_next_page


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1,234.56", Decimal("1234.56")),
        ("(200.00)", Decimal("-200.00")),
        ("-5", Decimal("-5")),
        ("$1,000", Decimal("1000")),
        ("", None),
        (None, None),
        (12.345, Decimal("12.35")),  # Excel floats: to the cent
        ("219.00-", Decimal("-219.00")),  # QuickBooks Desktop's trailing-minus preference
        ("-219.00", Decimal("-219.00")),
        ("1,234,567.89", Decimal("1234567.89")),
    ],
)
def test_amounts(text, amount):
    assert pnl.to_amount(text) == amount


def test_month_headers():
    assert month_of("Jan 25") == date(2025, 1, 1)
    assert month_of("Sept 2024") == date(2024, 9, 1)
    assert month_of("Mar 1 - 15, 26") == date(2026, 3, 1)
    assert month_of("TOTAL") is None and month_of("Sep 30 26") is None
    # a date cell or "25-Jan" is what Excel makes of "Jan 25" on re-save: the
    # month is known, the year is not (SOURCES.md "Real formats": never guessed)
    assert month_of(date(2025, 7, 31)) is None
    for cell in (date(2026, 7, 25), "25-Jul", "7/25/2026", "Jul-25"):
        assert month_header(cell).month == 7 and month_header(cell).year is None


def test_month_windows():
    assert pnl.month_windows(date(2024, 11, 1), date(2025, 2, 1), 2) == [
        (date(2024, 11, 1), date(2024, 12, 31)),
        (date(2025, 1, 1), date(2025, 2, 28)),
    ]


def _cells(*values: str) -> list[dict]:
    return [{"value": v} for v in values]


def _report(parent: dict, income_total: list[str]) -> dict:
    money = {"ColType": "Money"}
    return {
        "Columns": {
            "Column": [
                {"ColType": "Account"},
                {**money, "ColTitle": "Jan 2025",
                 "MetaData": [{"Name": "StartDate", "Value": "2025-01-01"}]},
                {**money, "ColTitle": "Feb 2025",
                 "MetaData": [{"Name": "StartDate", "Value": "2025-02-01"}]},
                {**money, "ColTitle": "Total", "MetaData": [{"Name": "ColKey", "Value": "total"}]},
            ]
        },
        "Rows": {
            "Row": [
                {
                    "group": "Income",
                    "type": "Section",
                    "Header": {"ColData": _cells("Income", "", "", "")},
                    "Rows": {"Row": [parent]},
                    "Summary": {"ColData": _cells("Total Income", *income_total)},
                },
                {"group": "NetIncome", "type": "Section",
                 "Summary": {"ColData": _cells("Net Income", *income_total)}},
            ]
        },
    }  # fmt: skip


def test_the_report_flattens_with_sections_and_parents():
    """The real shape: the parent's own postings are its section header's amounts."""
    parent = {
        "type": "Section",
        "Header": {"ColData": [{"value": "4000 Managed", "id": "40"}, *_cells("10.00", "", "10.00")]},
        "Rows": {"Row": [{"type": "Data",
                          "ColData": [{"value": "Security", "id": "41"},
                                      *_cells("1.50", "-2.00", "-0.50")]}]},
        "Summary": {"ColData": _cells("Total Managed", "11.50", "-2.00", "9.50")},
    }  # fmt: skip
    rows = {
        (r["account_key"], r["account_name"], r["account_number"], r["section_path"],
         r["month"]): r["amount"]
        for r in pnl.flatten_report(_report(parent, ["11.50", "-2.00", "9.50"]), "Accrual")
    }  # fmt: skip
    assert rows == {
        ("40", "Managed", "4000", "Income/Managed", date(2025, 1, 1)): Decimal("10.00"),
        ("41", "Security", None, "Income/Managed/Security", date(2025, 1, 1)): Decimal("1.50"),
        ("41", "Security", None, "Income/Managed/Security", date(2025, 2, 1)): Decimal("-2.00"),
    }
    # a Summary that leaves out the header's amounts does not reconcile: nothing returned
    parent["Summary"]["ColData"] = _cells("Total Managed", "1.50", "-2.00", "-0.50")
    with pytest.raises(pnl.ReportMismatch, match="Income / Managed, Jan 2025: the rows add up "
                       "to 11.50 but its Summary says 1.50"):  # fmt: skip
        pnl.flatten_report(_report(parent, ["11.50", "-2.00", "9.50"]), "Accrual")


def test_the_refresh_token_choice():
    store = MemoryTokenStore(
        {"refresh_token": "stored", "realm_id": "1", "configured_fingerprint": fingerprint("a")}
    )
    auth = QuickBooksOAuth2("http://t", "id", "secret", "1", "a", store)
    assert (auth.refresh_token, auth.token_origin) == ("stored", "stored")
    auth = QuickBooksOAuth2("http://t", "id", "secret", "1", "b", store)  # re-authorized
    assert (auth.refresh_token, auth.token_origin) == ("b", "configured")
    auth = QuickBooksOAuth2("http://t", "id", "secret", "2", "a", store)  # another company
    assert auth.token_origin == "configured"
    with pytest.raises(ReauthorizationRequired, match="SOURCES__QUICKBOOKS__REFRESH_TOKEN"):
        QuickBooksOAuth2("http://t", "id", "secret", "1", None, MemoryTokenStore())


def test_one_line_digs_out_the_cause():
    try:
        try:
            raise SourceError("QuickBooks answered 400 on /query: ValidationFault: bad\nmore")
        except SourceError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        assert one_line(exc, "QuickBooks") == (
            "QuickBooks answered 400 on /query: ValidationFault: bad more"
        )
    error = requests.ConnectionError("Connection refused")
    error.request = requests.Request("GET", "http://127.0.0.1:9/x?y=1").prepare()
    assert one_line(error, "NinjaOne") == (
        "NinjaOne: cannot reach http://127.0.0.1:9/x (connection failed) after retries: "
        "Connection refused"
    )


@pytest.mark.parametrize(
    "text",
    ["1e30", "Infinity", "NaN", "1" * 41, float("nan"), float("inf"), 1e30, "1,23", "12 USD",
     "--5", "(5)-"],
)  # fmt: skip
def test_what_is_not_an_amount_is_refused(text):
    from dlt_pipelines.pnl import to_amount

    with pytest.raises(ValueError):
        to_amount(text)
