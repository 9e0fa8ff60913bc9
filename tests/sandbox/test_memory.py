"""Issue 15: the sandbox keeps flat memory across advances, and what it serves
stays byte-identical for the same seed whichever way the clock was moved."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import date

from sandbox import memory_profile
from sandbox.msp import RECORD_LISTS, generate
from sandbox.servers.common import SharedState

TODAY = date(2026, 3, 31)


def test_an_advance_never_holds_two_copies_of_the_records() -> None:
    tracemalloc.start()
    try:
        msp = generate("small", seed=42, today=TODAY)
        state = SharedState(msp)  # renders, as the sandbox process does at start
        state.sorted_by_id("cw_tickets")  # the index forward-only pages use
        gc.collect()
        steady: list[int] = []
        for _ in range(4):
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            state.advance(1)
            state.sorted_by_id("cw_tickets")
            gc.collect()
            current, peak = tracemalloc.get_traced_memory()
            steady.append(current)
            extra_at_peak = peak - before
        del state  # and its id index
        msp.forget_rendering()
        gc.collect()
        records = steady[-1] - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert records > 1_000_000  # the rendered lists are what an extra copy would double
    # before issue 15 an advance peaked at a whole second copy (+100 %)
    assert extra_at_peak < 0.25 * records
    assert steady[-1] - steady[0] < 0.1 * records  # four more days, no retained copies


def test_lazy_and_counted_advances_serve_the_same_records() -> None:
    read_first = generate("small", seed=42, today=TODAY)
    assert not read_first.rendered and "cw_tickets" not in vars(read_first)
    assert len(read_first.cw_tickets) > 100 and read_first.rendered  # rendered on first read
    counted = read_first.advance(2)

    unread = generate("small", seed=42, today=TODAY)
    assert unread.advance(2) == counted  # counts against the old clock, rendered on demand
    assert counted["created"] > 0 and counted["updated"] > 0 and counted["deleted"] > 0

    inventory_only = generate("small", seed=42, today=TODAY)
    skipped = inventory_only.advance(2, count_changes=False)
    assert skipped == {"created": None, "updated": None, "deleted": None}
    assert not inventory_only.rendered
    assert not any(name in vars(inventory_only) for name in RECORD_LISTS)
    snapshot_rows = sum(1 for _ in inventory_only.iter_device_snapshots(start=inventory_only.today))
    assert snapshot_rows == len(
        [r for r in read_first.iter_device_snapshots() if r["snapshot_date"] == read_first.today]
    )
    assert not inventory_only.rendered  # the snapshots need no record lists

    expected = read_first.fingerprint()
    assert unread.fingerprint() == expected
    assert inventory_only.fingerprint() == expected


def test_memory_profile_reports_the_sandbox_process_per_advance() -> None:
    result = memory_profile("small", 2, today=TODAY)
    rss = result["rss_mb"]
    assert result["preset"] == "small" and result["advances"] == 2
    assert list(rss) == ["started", "read", "advance_1", "advance_2"]
    assert all(value > 20 for value in rss.values())  # a Python process with Flask
    assert result["growth_mb"] == round(rss["advance_2"] - rss["read"], 1)
    assert result["peak_mb"] >= max(rss.values()) - 1  # ru_maxrss vs sampled RSS
    assert 20 < result["inventory_day_peak_mb"] < result["peak_mb"]  # no records rendered
