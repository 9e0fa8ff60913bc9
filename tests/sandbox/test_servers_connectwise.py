"""ConnectWise imitation over real HTTP: auth, paging, conditions, fields, orderBy, count."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from sandbox.servers import Sandbox
from sandbox.servers.testing import TinyMSP

ACCEPT = "application/vnd.connectwise.com+json; version=2025.8"


class CW:
    def __init__(self, sandbox: Sandbox) -> None:
        creds = sandbox.credentials["connectwise"]
        self.base = sandbox.urls["connectwise"]
        self.session = requests.Session()
        self.session.auth = (f"{creds['company_id']}+{creds['public_key']}", creds["private_key"])
        self.session.headers.update({"clientId": creds["client_id"], "Accept": ACCEPT})

    def get(self, path: str, **params: object) -> requests.Response:
        headers = params.pop("headers", None)
        return self.session.get(self.base + path, params=params, headers=headers, timeout=10)

    def walk(self, path: str, **params: object) -> tuple[list[dict], list[requests.Response]]:
        """Follow Link rel=next from the first page; all records and all responses."""
        headers = params.pop("headers", None)
        response = self.session.get(self.base + path, params=params, headers=headers, timeout=10)
        records, responses = [], []
        while True:
            assert response.status_code == 200, response.text
            records += response.json()
            responses.append(response)
            nxt = links(response).get("next")
            if not nxt:
                return records, responses
            response = self.session.get(nxt, headers=headers, timeout=10)


def links(response: requests.Response) -> dict[str, str]:
    return (
        {rel: url for url, rel in re.findall(r'<([^>]+)>;\s*rel="(\w+)"', response.headers["Link"])}
        if response.headers.get("Link")
        else {}
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(TinyMSP()) as sb:
        yield sb


@pytest.fixture(scope="module")
def cw(sandbox: Sandbox) -> CW:
    return CW(sandbox)


def test_company_info_gives_the_codebase(sandbox: Sandbox) -> None:
    site = sandbox.urls["connectwise_site"]
    company = sandbox.credentials["connectwise"]["company_id"]
    info = requests.get(f"{site}login/companyinfo/{company}", timeout=5).json()
    assert info["Codebase"] == "v4_6_release/"
    assert requests.get(f"{site}login/companyinfo/nobody", timeout=5).status_code == 404


def test_auth_failures_are_401_in_the_api_shape(sandbox: Sandbox, cw: CW) -> None:
    url = cw.base + "service/tickets"
    creds = sandbox.credentials["connectwise"]
    user = f"{creds['company_id']}+{creds['public_key']}"
    cases = [
        requests.get(url, headers={"clientId": creds["client_id"]}, timeout=5),
        requests.get(
            url, auth=(user, "wrong"), headers={"clientId": creds["client_id"]}, timeout=5
        ),
        requests.get(url, auth=(user, creds["private_key"]), timeout=5),  # no clientId
        requests.get(
            url, auth=(user, creds["private_key"]), headers={"clientId": "nope"}, timeout=5
        ),
        requests.get(
            url,
            auth=(f"other+{creds['public_key']}", creds["private_key"]),
            headers={"clientId": creds["client_id"]},
            timeout=5,
        ),
    ]
    for response in cases:
        assert response.status_code == 401
        assert response.json()["code"] == "Unauthorized"
        assert response.json()["message"]


def test_list_is_a_bare_array_with_default_page_size(cw: CW, sandbox: Sandbox) -> None:
    response = cw.get("service/tickets")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 25
    assert [r["id"] for r in body] == list(range(1, 26))
    rel = links(response)
    assert set(rel) == {"next", "last"}
    assert parse_qs(urlparse(rel["last"]).query)["page"] == ["2"]


def test_paging_with_link_headers_covers_everything_once(cw: CW, sandbox: Sandbox) -> None:
    conditions = 'board/name != "Alerts"'
    records, responses = cw.walk(
        "service/tickets",
        pageSize=4,
        conditions=conditions,
        fields="id,board/name",
        orderBy="id desc",
    )
    expected = sorted(
        (t["id"] for t in sandbox.msp.cw_tickets if t["board"]["name"] != "Alerts"), reverse=True
    )
    assert [r["id"] for r in records] == expected
    assert all(set(r) == {"id", "board"} for r in records)
    assert "next" not in links(responses[-1]) and "last" in links(responses[-1])
    second = links(responses[0])["next"]
    query = parse_qs(urlparse(second).query)
    # the next URL carries every original parameter
    assert query == {
        "pageSize": ["4"],
        "conditions": [conditions],
        "fields": ["id,board/name"],
        "orderBy": ["id desc"],
        "page": ["2"],
    }
    assert links(responses[1]).keys() == {"first", "prev", "next", "last"}
    assert len(responses) == -(-len(expected) // 4)


def test_page_past_the_end_is_empty(cw: CW) -> None:
    response = cw.get("service/tickets", page=99, pageSize=10)
    assert response.status_code == 200 and response.json() == []
    assert "next" not in links(response)


def test_forward_only_paging(cw: CW, sandbox: Sandbox) -> None:
    records, responses = cw.walk(
        "time/entries", pageSize=6, headers={"pagination-type": "forward-only"}
    )
    assert [r["id"] for r in records] == sorted(e["id"] for e in sandbox.msp.cw_time_entries)
    for response in responses[:-1]:
        nxt = links(response)["next"]
        assert parse_qs(urlparse(nxt).query)["pageId"] == [str(response.json()[-1]["id"])]
        assert "page" not in parse_qs(urlparse(nxt).query)
    assert "next" not in links(responses[-1])
    assert len(responses) == 4  # 20 entries in pages of 6


@pytest.mark.parametrize(
    ("page_size", "field"),
    [(1001, "pageSize"), (0, "pageSize"), ("ten", "pageSize")],
)
def test_bad_page_size_is_an_invalid_object_error(cw: CW, page_size: object, field: str) -> None:
    response = cw.get("service/tickets", pageSize=page_size)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "InvalidObject" and body["message"]
    assert body["errors"][0]["field"] == field
    assert set(body["errors"][0]) == {"code", "message", "resource", "field"}


def test_page_size_1000_is_allowed(cw: CW) -> None:
    assert cw.get("service/tickets", pageSize=1000).status_code == 200


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ("closedFlag = true", [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]),
        ('board/name = "Help Desk" and id < 10', [3, 6, 9]),
        ("parentTicketId = 5", [6, 7]),
        ("parentTicketId != null", [6, 7]),
        ('summary contains "printer" and id <= 12', [4, 8, 12]),
        ('summary like "Ticket 2_:%"', list(range(20, 30))),
        ("id in (1, 2, 30)", [1, 2, 30]),
        ("id not in (1, 2) and id < 5", [3, 4]),
        ("lastUpdated > [2025-01-29T00:00:00Z]", [27, 28, 29, 30]),
        ("dateEntered <= [2025-01-03T09:00:00Z]", [1, 2]),
        (
            '(board/name = "Alerts" or id = 1) and closedFlag = false',
            [1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29],
        ),
        ("actualHours >= 7.25", [29, 30]),
        ('company/identifier = "Blue" and owner = null', [7, 28]),
    ],
)
def test_conditions_over_http(cw: CW, conditions: str, expected: list[int]) -> None:
    response = cw.get("service/tickets", conditions=conditions, pageSize=1000, fields="id")
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()] == expected
    count = cw.get("service/tickets/count", conditions=conditions)
    assert count.json() == {"count": len(expected)}


@pytest.mark.parametrize(
    "conditions",
    ['summary = "unterminated', "lastUpdated > 2025-01-01", "nosuchfield = 1", "id = 1 or"],
)
def test_malformed_conditions_are_400(cw: CW, conditions: str) -> None:
    for path in ("service/tickets", "service/tickets/count"):
        response = cw.get(path, conditions=conditions)
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "InvalidObject"
        assert body["errors"][0]["field"] == "conditions"
        assert body["errors"][0]["resource"] == "ticket"


def test_fields_keep_the_nesting(cw: CW) -> None:
    body = cw.get("service/tickets/7", fields="id,summary,board/name,company/identifier").json()
    assert body == {
        "id": 7,
        "summary": "Ticket 7: Password reset",
        "board": {"name": "Projects"},
        "company": {"identifier": "Blue"},
    }
    listed = cw.get("service/tickets", fields="id,_info/lastUpdated", pageSize=1).json()
    assert listed == [{"id": 1, "_info": {"lastUpdated": "2025-01-02T10:00:00Z"}}]


def test_order_by(cw: CW, sandbox: Sandbox) -> None:
    by_updated = cw.get("service/tickets", orderBy="lastUpdated desc", pageSize=3, fields="id")
    assert [r["id"] for r in by_updated.json()] == [30, 29, 28]
    by_board = cw.get(
        "service/tickets", orderBy="board/name asc, id desc", pageSize=1000, fields="id,board/name"
    ).json()
    assert [r["board"]["name"] for r in by_board] == sorted(r["board"]["name"] for r in by_board)
    alerts = [r["id"] for r in by_board if r["board"]["name"] == "Alerts"]
    assert alerts == sorted(alerts, reverse=True)
    bad = cw.get("service/tickets", orderBy="nosuch asc")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "orderBy"


@pytest.mark.parametrize(
    ("path", "attr"),
    [
        ("service/tickets", "cw_tickets"),
        ("time/entries", "cw_time_entries"),
        ("company/companies", "cw_companies"),
        ("service/boards", "cw_boards"),
        ("finance/agreements", "cw_agreements"),
        ("system/members", "cw_members"),
    ],
)
def test_every_endpoint_lists_counts_and_reads_by_id(
    cw: CW, sandbox: Sandbox, path: str, attr: str
) -> None:
    from sandbox.servers.cw_shapes import on_wire

    records = getattr(sandbox.msp, attr)
    resource = attr.removeprefix("cw_")
    listed, _ = cw.walk(path, pageSize=7)
    # every record as the real API sends it (nulls omitted, extras; see cw_shapes)
    assert listed == [on_wire(r, resource) for r in sorted(records, key=lambda r: r["id"])]
    assert [r["id"] for r in listed] == sorted(r["id"] for r in records)
    assert cw.get(f"{path}/count").json() == {"count": len(records)}
    first = records[0]
    assert cw.get(f"{path}/{first['id']}").json() == on_wire(first, resource)
    missing = cw.get(f"{path}/987654")
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"


def test_unknown_path_is_404_in_the_api_shape(cw: CW) -> None:
    response = cw.get("service/nothing")
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"
    outside = requests.get(cw.base.split("/v4_6")[0] + "/nowhere", timeout=5)
    assert outside.status_code == 404 and outside.json()["code"] == "NotFound"


def test_advance_is_visible_over_http() -> None:
    with Sandbox(TinyMSP()) as sb:
        cw = CW(sb)
        before = sb.msp.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert cw.get("service/tickets", conditions=f"lastUpdated > [{before}]").json() == []
        sb.advance(2)
        changed = cw.get(
            "service/tickets", conditions=f"lastUpdated > [{before}]", fields="id,summary"
        ).json()
        assert {r["id"] for r in changed} == {1, 31}
        assert {"id": 1, "summary": "Updated"} in changed
        assert cw.get("service/tickets/count").json() == {"count": 31}
        assert sb.status()["now"] == (sb.msp.now).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert sb.msp.now - dt.datetime.fromisoformat(before) == dt.timedelta(days=2)


# --- against the generated MSP (the `generated` fixture: tests/sandbox/conftest.py) ---


@pytest.mark.parametrize("mode", ["navigable", "forward-only"])
def test_generated_tickets_page_to_the_full_list(generated: Sandbox, mode: str) -> None:
    cw = CW(generated)
    headers = {"pagination-type": "forward-only"} if mode == "forward-only" else None
    records, _ = cw.walk("service/tickets", pageSize=250, fields="id", headers=headers)
    assert [r["id"] for r in records] == sorted(t["id"] for t in generated.msp.cw_tickets)
    since = (generated.msp.now - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = cw.get("service/tickets/count", conditions=f"lastUpdated > [{since}]").json()
    assert recent["count"] == sum(
        1 for t in generated.msp.cw_tickets if t["_info"]["lastUpdated"] > since
    )


def _walk_values(value: object, key: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk_values(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_values(v, key)


def test_generated_records_arrive_in_the_real_shapes(generated: Sandbox) -> None:
    """SOURCES.md "Real formats" / ConnectWise, each fact on some records and not all."""
    cw = CW(generated)
    tickets, _ = cw.walk("service/tickets", pageSize=1000)
    boards, _ = cw.walk("service/boards", pageSize=1000)
    entries, _ = cw.walk("time/entries", pageSize=1000)
    agreements, _ = cw.walk("finance/agreements", pageSize=1000)
    everything = tickets + boards + entries + agreements
    # nulls are omitted, never sent - except a reference's `_info: null`
    nulls = [k for r in everything for k, v in _walk_values(r) if v is None]
    assert nulls and set(nulls) == {"_info"}
    tidy = {t["id"]: t for t in generated.msp.cw_tickets}
    assert any(tidy[t["id"]]["closedDate"] is None and "closedDate" not in t for t in tickets)
    # some references carry _info: null, most carry their href
    refs = [v for t in tickets for k, v in t.items() if isinstance(v, dict) and "_info" in v]
    assert any(r["_info"] is None for r in refs) and any(r["_info"] for r in refs)
    # custom fields: definitions, some with a value, some without `value` at all
    fields = [f for t in tickets for f in t["customFields"]]
    assert any("value" not in f for f in fields) and any("value" in f for f in fields)
    assert all({"id", "caption", "type"} <= set(f) for f in fields)
    # extra nested objects, varied per record
    with_sla = sum("sla" in t for t in tickets)
    assert 0 < with_sla < len(tickets)
    assert all(a["currency"]["currencyCode"] == "USD" for a in agreements)
    assert any("timeSheet" in e for e in entries)
    # an older board: locationId / businessUnitId instead of references
    assert any("locationId" in b and "location" not in b for b in boards)
    assert any("location" in b for b in boards)
    # every record still has its cursor
    assert all(r["_info"]["lastUpdated"] for r in everything)
