"""What a daily refresh costs at the source: requests and rows, counted by the
sandbox (`/_sandbox/status` notes: `list <resource>` requests and
`list_rows <resource>` records served, `id_sweep ...`, `count ...`).

A fresh warehouse whose first ConnectWise run is `--full`; then plain runs.
In order (each builds on the one before).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from dlt_pipelines import connectwise
from dlt_pipelines.runner import make_pipeline
from tests.pipelines.conftest import cw_config

RESOURCES = {
    "tickets": "cw_tickets",
    "time_entries": "cw_time_entries",
    "companies": "cw_companies",
    "boards": "cw_boards",
    "agreements": "cw_agreements",
    "members": "cw_members",
}
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
