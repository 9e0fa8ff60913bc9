"""The ConnectWise conditions grammar, the QuickBooks query subset and the Faults
object, without HTTP."""

from __future__ import annotations

import pytest

from sandbox.servers.conditions import ConditionsError, compile_conditions
from sandbox.servers.faults import Faults
from sandbox.servers.qbo_query import QueryError, parse_query, run

RECORDS = [
    {
        "id": 1,
        "summary": "Printer offline",
        "board": {"id": 1, "name": "Help Desk"},
        "parentTicketId": None,
        "closedFlag": False,
        "actualHours": 1.5,
        "_info": {"lastUpdated": "2025-01-03T15:22:10Z", "dateEntered": "2025-01-01T08:00:00Z"},
    },
    {
        "id": 2,
        "summary": "Password reset",
        "board": {"id": 2, "name": "Projects"},
        "parentTicketId": 1,
        "closedFlag": True,
        "actualHours": 0.25,
        "_info": {"lastUpdated": "2025-02-01T00:00:00Z", "dateEntered": "2025-01-20T08:00:00Z"},
    },
    {
        "id": 3,
        "summary": "New laptop",
        "board": {"id": 1, "name": "Help Desk"},
        "closedFlag": False,
        "actualHours": 4,
        "dateEntered": "2025-03-01T00:00:00Z",
        "_info": {"lastUpdated": "2025-03-01T10:00:00Z"},
    },
]
KNOWN = {"id", "summary", "board", "parentTicketId", "closedFlag", "actualHours", "_info"}


def ids(conditions: str) -> list[int]:
    predicate = compile_conditions(conditions, KNOWN | {"dateEntered"})
    return [r["id"] for r in RECORDS if predicate(r)]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ("id = 2", [2]),
        ("id != 2", [1, 3]),
        ("id < 2", [1]),
        ("id <= 2", [1, 2]),
        ("id > 2", [3]),
        ("id >= 2", [2, 3]),
        ("actualHours > 1", [1, 3]),
        ("actualHours = 0.25", [2]),
        ('summary = "password reset"', [2]),  # case-insensitive like SQL Server
        ('summary contains "print"', [1]),
        ('summary not contains "print"', [2, 3]),
        ('summary like "New%"', [3]),
        ('summary like "%o%"', [1, 2, 3]),
        ('summary not like "New%"', [1, 2]),
        ("id in (1, 3)", [1, 3]),
        ('board/name in ("Projects", "Alerts")', [2]),
        ("id not in (1, 3)", [2]),
        ('board/name = "Help Desk"', [1, 3]),
        ("board/id = 2", [2]),
        ("parentTicketId = null", [1, 3]),  # null and missing alike
        ("parentTicketId != null", [2]),
        ("closedFlag = true", [2]),
        ("closedFlag = false", [1, 3]),
        ("lastUpdated > [2025-01-31T00:00:00Z]", [2, 3]),
        ("lastUpdated >= [2025-02-01T00:00:00Z]", [2, 3]),
        ("lastUpdated < [2025-02-01T00:00:00Z]", [1]),
        ("_info/lastUpdated <= [2025-01-03T15:22:10Z]", [1]),
        ("dateEntered > [2025-01-10T00:00:00Z]", [2, 3]),  # _info or top level
        ("parentTicketId = 1", [2]),
        ("parentTicketId != 1", []),  # SQL: a null field never compares
        ('board/name = "Help Desk" and closedFlag = false and id > 1', [3]),
        ('id = 1 or board/name = "Projects"', [1, 2]),
        ("id = 1 or id = 2 and closedFlag = false", [1]),  # and binds tighter
        ("(id = 1 or id = 2) and closedFlag = false", [1]),
        ("(id = 1 or (id = 3 and actualHours >= 4))", [1, 3]),
        ("id = -1", []),
    ],
)
def test_conditions_operators(conditions: str, expected: list[int]) -> None:
    assert ids(conditions) == expected


def test_conditions_keywords_are_case_insensitive() -> None:
    assert ids('id = 1 OR summary CONTAINS "laptop"') == [1, 3]
    assert ids("parentTicketId = NULL AND closedFlag = FALSE") == [1, 3]
    with pytest.raises(ConditionsError, match="unknown field"):
        ids("ID = 1")  # field names are exact


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        ('summary = "open', "unterminated string"),
        ("lastUpdated > [2025-13-45]", "invalid datetime"),
        ("lastUpdated > [2025-01-01", "unterminated datetime"),
        ("id =", "expected a value"),
        ("summary = printer", "expected a value"),
        ("(id = 1", "expected ')'"),
        ("id = 1)", "unexpected"),
        ("id = 1 and", "expected a field"),
        ("id 1", "expected an operator"),
        ("bogus = 1", "unknown field 'bogus'"),
        ("id < null", "null can only"),
        ("id in 1, 2", "expected '('"),
        ("id in (1 2)", "expected ',' or ')'"),
        ("summary like 5", "needs a quoted string"),
        ("", "empty"),
        ("id = 1 ; drop", "unexpected character"),
    ],
)
def test_conditions_errors_name_the_problem(conditions: str, problem: str) -> None:
    with pytest.raises(ConditionsError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        compile_conditions(conditions, KNOWN)


# --- QuickBooks query ------------------------------------------------------------

INVOICES = [
    {
        "Id": str(n),
        "DocNumber": f"INV-{n}",
        "TotalAmt": 100.0 * n,
        "CustomerRef": {"value": str(n % 2 + 1), "name": "x"},
        "MetaData": {"LastUpdatedTime": f"2025-01-{n:02d}T10:00:00-08:00"},
    }
    for n in range(1, 11)
]


def q(text: str) -> list[str]:
    parsed = parse_query(text)
    rows = run(parsed, INVOICES)
    start = parsed.start_position
    return [r["Id"] for r in rows[start - 1 : start - 1 + parsed.max_results]]


def test_query_select_where_order_page() -> None:
    assert q("SELECT * FROM Invoice") == [str(n) for n in range(1, 11)]
    assert q("select * from Invoice where TotalAmt > '500'") == ["6", "7", "8", "9", "10"]
    assert q("SELECT * FROM Invoice WHERE TotalAmt >= '500' AND TotalAmt < '700'") == ["5", "6"]
    assert q("SELECT * FROM Invoice WHERE CustomerRef = '1'") == ["2", "4", "6", "8", "10"]
    assert q("SELECT * FROM Invoice WHERE Id IN ('3', '5')") == ["3", "5"]
    assert q("SELECT * FROM Invoice WHERE DocNumber LIKE 'INV-1%'") == ["1", "10"]
    assert q("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2025-01-08T18:00:00Z'") == [
        "9",
        "10",
    ]  # offsets honoured: #8 is 2025-01-08T18:00Z, not greater
    assert q("SELECT * FROM Invoice ORDERBY TotalAmt DESC STARTPOSITION 1 MAXRESULTS 3") == [
        "10",
        "9",
        "8",
    ]
    assert q("SELECT * FROM Invoice ORDER BY Id STARTPOSITION 4 MAXRESULTS 2") == ["4", "5"]
    assert q("SELECT * FROM Invoice MAXRESULTS 2 STARTPOSITION 9") == ["9", "10"]


def test_query_parse_details() -> None:
    parsed = parse_query("SELECT COUNT(*) FROM Customer WHERE Active = true")
    assert parsed.count and parsed.entity == "Customer"
    assert parsed.where[0].value is True
    assert parse_query("SELECT * FROM Invoice").max_results == 100
    assert parse_query("SELECT * FROM Invoice MAXRESULTS 5000").max_results == 1000
    assert parse_query("SELECT Id, DocNumber FROM Invoice").columns == ["Id", "DocNumber"]
    escaped = parse_query(r"SELECT * FROM Customer WHERE DisplayName = 'O\'Brien'")
    assert escaped.where[0].value == "O'Brien"


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'",
        "SELECT * Invoice",
        "SELECT * FROM Invoice WHERE Id != '1'",
        "SELECT * FROM Invoice WHERE",
        "SELECT * FROM Invoice STARTPOSITION x",
        "SELECT * FROM Invoice garbage",
        'SELECT * FROM Invoice WHERE Id = "1"',
        "",
    ],
)
def test_query_errors(text: str) -> None:
    with pytest.raises(QueryError):
        parse_query(text)


# --- Faults ---------------------------------------------------------------------


def test_faults_count_scope_and_clear() -> None:
    faults = Faults()
    faults.set("rate_limit", count=2, retry_after=5, path="/tickets")
    assert faults.take("rate_limit", "/time/entries") is None  # out of scope
    assert faults.take("rate_limit", "/service/tickets") == {"retry_after": 5}
    assert faults.active()[0]["remaining"] == 1
    assert faults.take("rate_limit", "/service/tickets") is not None
    assert faults.take("rate_limit", "/service/tickets") is None
    assert faults.active() == []

    faults.set("down")
    for _ in range(5):
        assert faults.take("down", "/x") == {"mode": "reset"}
    faults.set("drop_connection", page=2)
    assert faults.take("drop_connection", "/x", page=1) is None
    assert faults.take("drop_connection", "/x", page=2) is not None
    faults.clear("down")
    assert faults.active() == []
    faults.set("slow", seconds=0.1, count=3)
    faults.clear()
    assert faults.active() == []


@pytest.mark.parametrize(
    ("kind", "opts"),
    [
        ("earthquake", {}),
        ("rate_limit", {"seconds": 3}),
        ("down", {"mode": "sideways"}),
        ("rate_limit", {"count": 0}),
        ("malformed_record", {"variants": "missing_id,bogus"}),
    ],
)
def test_faults_refuse_bad_settings(kind: str, opts: dict) -> None:
    with pytest.raises(ValueError):
        Faults().set(kind, **opts)
