"""What a daily refresh costs at the source: requests and rows, counted by the
sandbox (`/_sandbox/status` notes: `list <resource>` requests and
`list_rows <resource>` records served, `id_sweep ...`, `count ...`).

A fresh warehouse whose first ConnectWise run is `--full`; then plain runs.
In order (each builds on the one before).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dlt_pipelines import connectwise
from dlt_pipelines.runner import make_pipeline
from sandbox.msp import CONNECTWISE_LISTS
from tests.dlt_pipelines.conftest import cw_config, query

RESOURCES = CONNECTWISE_LISTS
WIRE = {r: a.removeprefix("cw_") for r, a in RESOURCES.items()}


def _notes(sandbox: Any) -> dict[str, int]:
    return dict(sandbox.state.notes.get("connectwise", {}))


def _delta(before: dict[str, int], after: dict[str, int], kind: str) -> dict[str, int]:
    """Per resource: how much the `kind` note grew (0 when it did not)."""
    return {r: after.get(f"{kind} {w}", 0) - before.get(f"{kind} {w}", 0) for r, w in WIRE.items()}


def _latest(records: list[dict]) -> str:
    return max(r["_info"]["lastUpdated"] for r in records)


def _cursor(settings: Any, resource: str) -> Any:
    state = make_pipeline(settings, "connectwise").state
    return state["sources"]["connectwise"]["resources"][resource]["incremental"][
        "_info.lastUpdated"
    ]["last_value"]


@pytest.fixture(scope="module")
def full_first(sandbox: Any, warehouse: Any) -> Any:
    """The warehouse's very first ConnectWise run is `--full`."""
    return connectwise.run(warehouse, cw_config(sandbox), full=True)


def test_full_sets_the_cursors(full_first: Any, sandbox: Any, warehouse: Any):
    msp = sandbox.msp
    assert full_first.rows_loaded == sum(len(getattr(msp, a)) for a in RESOURCES.values())
    for resource, attr in RESOURCES.items():
        latest = datetime.fromisoformat(_latest(getattr(msp, attr)).replace("Z", "+00:00"))
        assert _cursor(warehouse, resource) == latest, resource


def test_plain_refresh_after_full_reads_only_the_window(
    full_first: Any, sandbox: Any, warehouse: Any
):
    """No change at the source: one page per resource, holding exactly the records
    at the cursor (`lastUpdated >= [cursor]` includes the boundary); nothing loads.
    (Before: `--full` left the cursors unset and this run re-read every record.)"""
    msp = sandbox.msp
    before = _notes(sandbox)
    result = connectwise.run(warehouse, cw_config(sandbox))
    after = _notes(sandbox)
    assert result.rows_loaded == 0
    assert _delta(before, after, "list") == dict.fromkeys(RESOURCES, 1)
    boundary = {
        r: sum(1 for x in getattr(msp, a) if x["_info"]["lastUpdated"] == _latest(getattr(msp, a)))
        for r, a in RESOURCES.items()
    }
    assert _delta(before, after, "list_rows") == boundary
    total = sum(len(getattr(msp, a)) for a in RESOURCES.values())
    assert sum(boundary.values()) < 0.01 * total


def test_a_no_change_day_reads_no_ids(full_first: Any, sandbox: Any, warehouse: Any):
    """Nothing deleted: each resource asks the source's `/count` once, finds it
    equal to its live rows, and reads no id at all (it used to sweep every id)."""
    before = _notes(sandbox)
    result = connectwise.run(warehouse, cw_config(sandbox))
    after = _notes(sandbox)
    assert _delta(before, after, "id_sweep") == dict.fromkeys(RESOURCES, 0)
    assert _delta(before, after, "count") == dict.fromkeys(RESOURCES, 1)
    checks = result.details["deletion_checks"]
    for resource, attr in RESOURCES.items():
        n = len(getattr(sandbox.msp, attr))
        assert checks[resource]["how"] == "count equal", resource
        assert checks[resource]["source_count"] == checks[resource]["live_after_load"] == n
    assert result.details["rows_marked_deleted"] == 0


def test_a_deletion_at_the_source_is_still_marked(full_first: Any, sandbox: Any, warehouse: Any):
    """A day passes (the sandbox deletes tickets / time entries and adds others):
    where the count differs the resource sweeps and marks exactly the deleted
    records; where it is equal (boards, members: no change) no id is read."""
    msp = sandbox.msp
    gone_before = {a: set(msp.deleted.get(a, set())) for a in RESOURCES.values()}
    sandbox.advance(1)
    gone = {r: set(msp.deleted.get(a, set())) - gone_before[a] for r, a in RESOURCES.items()}
    assert gone["tickets"] or gone["time_entries"]
    before = _notes(sandbox)
    result = connectwise.run(warehouse, cw_config(sandbox))
    after = _notes(sandbox)
    swept = _delta(before, after, "id_sweep")
    counted = _delta(before, after, "count")
    checks = result.details["deletion_checks"]
    for resource in RESOURCES:
        if gone[resource]:
            # only the id ranges whose count differs are read (at most a page each)
            assert checks[resource]["how"] == "sweep (count differs)", resource
            assert swept[resource] == checks[resource]["sweep_pages"], resource
            assert 1 <= swept[resource] <= len(gone[resource]), resource
            assert counted[resource] == 1 + checks[resource]["range_counts"], resource
        if checks[resource]["how"] == "count equal":
            assert swept[resource] == 0, resource
    served = _delta(before, after, "id_sweep_rows")
    total = len(msp.cw_tickets) + len(msp.cw_time_entries)
    assert served["tickets"] + served["time_entries"] <= 2 * 1000 < total
    assert swept["boards"] == swept["members"] == 0
    marked = {
        r: {
            row[0]
            for row in query(
                warehouse, f"select id from raw_connectwise.{r} where _deleted_at is not null"
            )
        }
        for r in RESOURCES
    }
    assert marked == gone
    assert result.details["rows_marked_deleted"] == sum(len(v) for v in gone.values())


def test_the_scheduled_full_sweep_still_happens(full_first: Any, sandbox: Any, warehouse: Any):
    """When the last full sweep is older than the window (here: a window of a
    millisecond) every resource sweeps all its ids even though nothing changed;
    the next run with the default window (7 days) sweeps nothing again."""
    msp = sandbox.msp
    before = _notes(sandbox)
    due = connectwise.run(warehouse, cw_config(sandbox), sweep_days=1e-8)
    after = _notes(sandbox)
    pages = {r: -(-len(getattr(msp, a)) // 1000) for r, a in RESOURCES.items()}
    assert _delta(before, after, "id_sweep") == pages
    assert {r: c["how"] for r, c in due.details["deletion_checks"].items()} == dict.fromkeys(
        RESOURCES, "scheduled sweep"
    )
    assert _delta(before, after, "count") == dict.fromkeys(RESOURCES, 0)
    before = _notes(sandbox)
    connectwise.run(warehouse, cw_config(sandbox))
    assert _delta(before, _notes(sandbox), "id_sweep") == dict.fromkeys(RESOURCES, 0)


def test_sweep_due_follows_the_window():
    now = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
    assert connectwise.sweep_due(None, now, 7)
    assert connectwise.sweep_due("garbage", now, 7)
    assert not connectwise.sweep_due((now - timedelta(days=6, hours=23)).isoformat(), now, 7)
    assert connectwise.sweep_due((now - timedelta(days=7)).isoformat(), now, 7)


def test_quickbooks_full_first_then_plain_reads_no_entity_again(sandbox: Any, warehouse: Any):
    """QuickBooks likewise: a first run with `--full` sets each entity's cursor
    to its newest `MetaData.LastUpdatedTime`; the plain run after it loads no
    entity row (only the P&L's 13 re-read months)."""
    from dlt_pipelines import quickbooks
    from tests.dlt_pipelines.conftest import qbo_config

    entities = {
        "accounts": "qbo_accounts", "customers": "qbo_customers", "items": "qbo_items",
        "invoices": "qbo_invoices", "payments": "qbo_payments", "credit_memos": "qbo_credit_memos",
    }  # fmt: skip
    full = quickbooks.run(warehouse, qbo_config(sandbox), full=True)
    state = make_pipeline(warehouse, "quickbooks").state["sources"]["quickbooks"]["resources"]
    for name, attr in entities.items():
        newest = max(
            datetime.fromisoformat(r["MetaData"]["LastUpdatedTime"])
            for r in getattr(sandbox.msp, attr)
        )
        stored = state[name]["incremental"]["MetaData.LastUpdatedTime"]["last_value"]
        assert stored == newest, name
        assert full.details["tables"][name] == len(getattr(sandbox.msp, attr)), name
    again = quickbooks.run(warehouse, qbo_config(sandbox))
    assert {t: again.details["tables"].get(t, 0) for t in entities} == dict.fromkeys(entities, 0)
