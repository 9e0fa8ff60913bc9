"""Deletions are never forgotten (issue 13 item 3).

Reproduced: the QuickBooks CDC checkpoint lived in dlt's resource state, which
dlt commits with the load, while the deletions it covers are stamped after the
load; a run killed between the two advanced the checkpoint and lost the
deletions for good. Now the checkpoint is stored in the transaction that
stamps the marks. And a full refresh sweeps (Id-only) instead of asking CDC,
so a row the source never had (a malformed record's phantom) does not live
forever.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dlt_pipelines import quickbooks, runner
from dlt_pipelines.errors import SourceError
from tests.dlt_pipelines.conftest import qbo_config, query

RESOURCES = ("accounts", "customers", "invoices")


def live_ids(settings: Any, table: str) -> set[str]:
    return {
        r[0]
        for r in query(settings, f"select id from raw_quickbooks.{table} where _deleted_at is null")
    }


def source_ids(sandbox: Any, attr: str) -> set[str]:
    return {str(r["Id"]) for r in getattr(sandbox.msp, attr)}


def delete_at_source(sandbox: Any, attr: str) -> str:
    """Delete one record in the sandbox's books an hour ago, as QuickBooks would (CDC
    reports it). (More than CDC's 5-minute overlap before the next run's clock.)"""
    msp, state = sandbox.msp, sandbox.state
    with state.lock:
        records = getattr(msp, attr)
        record = records.pop(len(records) // 2)
        msp.deleted.setdefault(attr, set()).add(record["Id"])
        msp.deleted_at.setdefault(attr, {})[record["Id"]] = state.now() - timedelta(hours=1)
        state.version += 1
    return str(record["Id"])


@pytest.fixture(scope="module")
def loaded(sandbox: Any, warehouse: Any) -> Any:
    return quickbooks.run(warehouse, qbo_config(sandbox), resources=RESOURCES)


def test_a_failure_between_load_and_marks_loses_no_deletion(
    loaded: Any, sandbox: Any, warehouse: Any, monkeypatch: pytest.MonkeyPatch
):
    sandbox.advance(1)
    gone = delete_at_source(sandbox, "qbo_invoices")  # an hour before the run below
    assert gone in live_ids(warehouse, "invoices")

    def killed(*args: Any, **kwargs: Any) -> None:  # the process dies right after the load
        raise RuntimeError("killed after the load, before the deletions were stamped")

    with monkeypatch.context() as patch:
        patch.setattr(runner, "apply", killed)
        with pytest.raises(SourceError, match="post-load step failed"):
            quickbooks.run(warehouse, qbo_config(sandbox), resources=RESOURCES)
    assert gone in live_ids(warehouse, "invoices")  # not marked yet

    again = quickbooks.run(warehouse, qbo_config(sandbox), resources=RESOURCES)
    assert gone not in live_ids(warehouse, "invoices")
    assert again.details["rows_marked_deleted"] == 1
    assert live_ids(warehouse, "invoices") == source_ids(sandbox, "qbo_invoices")


def test_the_checkpoint_is_stored_with_the_marks(loaded: Any, sandbox: Any, warehouse: Any):
    rows = dict(
        query(
            warehouse, "select resource, checked_at from raw_quickbooks._qbr_deletion_checkpoints"
        )
    )
    assert set(rows) == set(RESOURCES)
    # CDC asked since the checkpoint: a second run without changes marks nothing
    quiet = quickbooks.run(warehouse, qbo_config(sandbox), resources=RESOURCES)
    assert quiet.details["rows_marked_deleted"] == 0


def test_a_full_refresh_sweeps_away_a_phantom_row(loaded: Any, sandbox: Any, warehouse: Any):
    # a malformed record the source never had: its negative balance is allowed, so
    # it landed; CDC will never report it deleted (it never existed)
    sandbox.fault("quickbooks", "malformed_record", path="/query", variants="negative")
    quickbooks.run(warehouse, qbo_config(sandbox), resources=("accounts",))
    phantoms = live_ids(warehouse, "accounts") - source_ids(sandbox, "qbo_accounts")
    assert len(phantoms) == 1
    sandbox.clear_faults()

    quickbooks.run(warehouse, qbo_config(sandbox), resources=("accounts",))  # CDC: stays
    assert live_ids(warehouse, "accounts") - source_ids(sandbox, "qbo_accounts") == phantoms

    full = quickbooks.run(warehouse, qbo_config(sandbox), resources=("accounts",), full=True)
    assert live_ids(warehouse, "accounts") == source_ids(sandbox, "qbo_accounts")
    assert full.details["rows_marked_deleted"] == 1
