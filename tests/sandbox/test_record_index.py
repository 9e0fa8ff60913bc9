"""The ConnectWise imitation answers `conditions` on id / lastUpdated from sorted
indexes (sandbox/servers/record_index.py): every answer must equal what a scan
of the whole list with the same predicate gives, and the indexes must follow
an advance."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from sandbox.msp import generate
from sandbox.servers import Sandbox
from sandbox.servers.common import SharedState
from sandbox.servers.conditions import Range, compile_conditions, index_ranges
from tests.sandbox.test_servers_connectwise import CW

TODAY = dt.date(2025, 6, 15)


def _conditions(records: list[dict], rnd: random.Random, n: int) -> list[str]:
    ids = sorted(r["id"] for r in records)
    stamps = sorted(r["_info"]["lastUpdated"] for r in records)
    ops = [">=", ">", "<=", "<", "="]
    out = [
        "id >= 0",
        f"lastUpdated >= [{stamps[len(stamps) // 2]}]",
        f"id = {ids[3]} or id = {ids[-1]}",  # an `or`: no index, a scan
        f"(id > {ids[10]} and id < {ids[-10]}) and lastUpdated > [{stamps[-50]}]",
        f"lastUpdated > [{stamps[-1]}]",  # nothing
    ]
    for _ in range(n):
        a, b = sorted(rnd.sample(ids, 2))
        u, v = sorted(rnd.sample(stamps, 2))
        parts = [
            f"id {rnd.choice(ops)} {a}",
            f"id {rnd.choice(ops)} {b}",
            f"lastUpdated {rnd.choice(ops)} [{u}]",
            f"lastUpdated {rnd.choice(ops)} [{v}]",
            "closedFlag = true",
            'board/name != "Alerts"',
        ]
        out.append(" and ".join(rnd.sample(parts, rnd.randint(1, 4))))
    return out


@pytest.mark.parametrize("attr", ["cw_tickets", "cw_time_entries"])
def test_index_answers_equal_a_scan(attr: str) -> None:
    msp = generate("small", seed=42, today=TODAY)
    state = SharedState(msp)
    records = getattr(msp, attr)
    index = state.index(attr)
    for text in _conditions(records, random.Random(7), 120):
        predicate = compile_conditions(text)
        scanned = [r for r in records if predicate(r)]
        found = index.matching(predicate)
        if found is not None:  # None: the conditions bound neither field
            assert sorted(r["id"] for r in found) == sorted(r["id"] for r in scanned), text
        by_id = sorted(r["id"] for r in scanned)
        for size in (1, 9, 1000):
            after, paged = 0, []
            while True:
                items, more = index.page_after(predicate, after, size)
                paged += [r["id"] for r in items]
                if not more:
                    break
                assert len(items) == size, text
                after = items[-1]["id"]
            assert paged == by_id, (text, size)


def test_index_ranges_reads_the_top_level_and() -> None:
    ranges, residual = index_ranges(
        compile_conditions(
            "id > 5 and id <= 9 and id >= 6 and lastUpdated >= [2025-01-01T00:00:00Z] "
            'and board/name = "x"'
        )
    )
    assert ranges["id"] == Range(6, False, 9, False)
    assert ranges["lastUpdated"] == Range(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), False)
    assert residual
    assert index_ranges(compile_conditions("id = 1 or id = 2")) == ({}, True)
    assert index_ranges(compile_conditions("_info/lastUpdated > [2025-01-01T00:00:00Z]")) == (
        {},
        True,
    )


def test_counts_and_one_day_pages_follow_an_advance() -> None:
    with Sandbox(generate("small", seed=42, today=TODAY)) as sb:
        cw = CW(sb)
        fwd = {"pagination-type": "forward-only"}
        since = sb.msp.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert cw.get("service/tickets", conditions=f"lastUpdated >= [{since}]").json() == []
        sb.advance(1)
        tickets = sb.msp.cw_tickets
        changed = sorted(t["id"] for t in tickets if t["_info"]["lastUpdated"] >= since)
        assert changed
        page = cw.get(
            "service/tickets",
            conditions=f"lastUpdated >= [{since}]",
            fields="id",
            pageSize=1000,
            headers=fwd,
        ).json()
        assert [r["id"] for r in page] == changed
        ids = sorted(t["id"] for t in tickets)
        lo, hi = ids[len(ids) // 4], ids[3 * len(ids) // 4]
        counted = cw.get("service/tickets/count", conditions=f"id >= {lo} and id <= {hi}").json()
        assert counted == {"count": sum(1 for i in ids if lo <= i <= hi)}
        assert cw.get("service/tickets/count").json() == {"count": len(tickets)}
        assert cw.get(f"service/tickets/{ids[-1]}", fields="id").json() == {"id": ids[-1]}
