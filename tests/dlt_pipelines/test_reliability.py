"""Faults over real HTTP: retries, clear failures, nothing partial, kills.

Every injected sandbox fault ends in either a complete load or a clear
recorded failure that left the previous data (and the cursor) as they were.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from dlt_pipelines import connectwise
from dlt_pipelines.errors import SourceError
from dlt_pipelines.runner import make_pipeline
from qbr.settings import PROJECT_ROOT
from tests.dlt_pipelines.conftest import cw_config, query, scalar, subprocess_env

TABLES = ("tickets", "time_entries", "companies", "boards", "agreements", "members")
ATTRS = {t: "cw_" + t for t in TABLES}


def counts(settings: Any) -> dict[str, int]:
    return {
        t: scalar(settings, f"select count(*) from raw_connectwise.{t} where _deleted_at is null")
        for t in TABLES
    }


def expected(msp: Any) -> dict[str, int]:
    return {t: len(getattr(msp, a)) for t, a in ATTRS.items()}


def loads(settings: Any) -> int:
    return scalar(settings, "select count(*) from raw_connectwise._dlt_loads")


def cursors(settings: Any) -> dict[str, Any]:
    state = make_pipeline(settings, "connectwise").state
    resources = state["sources"]["connectwise"]["resources"]
    return {t: resources[t]["incremental"]["_info.lastUpdated"]["last_value"] for t in TABLES}


@pytest.fixture(scope="module")
def loaded(sandbox: Any, warehouse: Any) -> Any:
    result = connectwise.run(warehouse, cw_config(sandbox))
    assert counts(warehouse) == expected(sandbox.msp)
    return result


@pytest.fixture(autouse=True)
def _no_leftover_faults(sandbox: Any):
    yield
    sandbox.clear_faults()


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("rate_limit", {"count": 2, "retry_after": 1}),
        ("server_error", {"count": 2}),
        ("server_error", {"count": 1, "status": 503}),
        ("drop_connection", {"page": 2, "mode": "mid_response"}),
        ("drop_connection", {"page": 1, "mode": "no_response"}),
        ("slow", {"seconds": 6}),  # longer than the 5 s request timeout: retried
    ],
)
def test_transient_faults_are_retried_to_a_complete_load(
    loaded: Any, sandbox: Any, warehouse: Any, kind: str, options: dict
):
    sandbox.advance(1)
    started = time.monotonic()
    sandbox.fault("connectwise", kind, path="service/tickets", **options)
    # a plain run reads one page of tickets (no id sweep on every run any more):
    # a fault on page 2 needs the full read to be reached
    full = options.get("page", 1) > 1
    result = connectwise.run(warehouse, cw_config(sandbox), full=full)
    assert counts(warehouse) == expected(sandbox.msp)
    assert result.details["rows_rejected"] == 0
    assert not sandbox.faults("connectwise").active(), "the fault never fired"
    if kind == "rate_limit":  # Retry-After: 1 was honoured, twice
        assert time.monotonic() - started >= 2


def test_fault_mid_pagination_loads_nothing_and_keeps_the_cursor(
    loaded: Any, sandbox: Any, warehouse: Any
):
    """Page 2 of tickets keeps failing beyond the retries: the whole source fails,
    nothing of page 1 (or of the other resources) is loaded, cursors stay."""
    sandbox.advance(1)
    before, n_loads, marks = counts(warehouse), loads(warehouse), cursors(warehouse)
    snapshot = query(warehouse, "select id, _info__last_updated from raw_connectwise.tickets")
    # full=True reads every page (2 pages of tickets) so page 2 is guaranteed to be read
    sandbox.fault("connectwise", "drop_connection", path="service/tickets", page=2, count=10,
                  mode="no_response")  # fmt: skip
    with pytest.raises(SourceError) as failure:
        connectwise.run(warehouse, cw_config(sandbox), full=True)
    message = str(failure.value)
    assert message.startswith("ConnectWise: cannot reach") and "\n" not in message
    assert counts(warehouse) == before
    assert loads(warehouse) == n_loads
    assert cursors(warehouse) == marks
    assert (
        query(warehouse, "select id, _info__last_updated from raw_connectwise.tickets") == snapshot
    )
    sandbox.clear_faults()
    connectwise.run(warehouse, cw_config(sandbox))
    assert counts(warehouse) == expected(sandbox.msp)


def test_a_client_error_fails_with_the_servers_message(loaded: Any, sandbox: Any, warehouse: Any):
    before = counts(warehouse)
    config = {**cw_config(sandbox), "private_key": "wrong"}
    with pytest.raises(SourceError) as failure:
        connectwise.run(warehouse, config)
    assert re.fullmatch(
        r"ConnectWise answered 401 on /v4_6_release/apis/3\.0/[a-z/]+: "
        r"Unauthorized: Invalid API key or company id",
        str(failure.value),
    ), str(failure.value)
    assert counts(warehouse) == before


def test_an_expired_session_fails_clearly_and_keeps_the_data(
    loaded: Any, sandbox: Any, warehouse: Any
):
    before = counts(warehouse)
    sandbox.fault("connectwise", "expired_token", path="time/entries")
    with pytest.raises(SourceError, match="401.*Session expired"):
        connectwise.run(warehouse, cw_config(sandbox))
    assert counts(warehouse) == before


def test_an_unreachable_server_fails_clearly(loaded: Any, sandbox: Any, warehouse: Any):
    before = counts(warehouse)
    sandbox.fault("connectwise", "down", mode="503")
    with pytest.raises(SourceError, match="ConnectWise answered 503"):
        connectwise.run(warehouse, cw_config(sandbox))
    sandbox.clear_faults()
    sandbox.fault("connectwise", "down")  # connections reset
    with pytest.raises(SourceError, match="cannot reach http://127.0.0.1"):
        connectwise.run(warehouse, cw_config(sandbox))
    assert counts(warehouse) == before


def test_a_killed_run_loses_nothing(loaded: Any, sandbox: Any, warehouse: Any):
    """SIGKILL in the middle of the load step; the next run finishes the pending
    package first, then loads what is new. Counts end exact (no duplicates)."""
    sandbox.advance(2)
    child = subprocess.run(
        [sys.executable, "-m", "tests.dlt_pipelines.kill_helper", json.dumps(cw_config(sandbox))],
        cwd=PROJECT_ROOT,
        env=subprocess_env(warehouse),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr[-3000:]
    pipeline = make_pipeline(warehouse, "connectwise")
    assert pipeline.has_pending_data
    result = connectwise.run(warehouse, cw_config(sandbox))
    assert result.details["pending_loads_completed"] == 1
    assert counts(warehouse) == expected(sandbox.msp)
    for table in TABLES:
        assert (
            scalar(warehouse, f"select count(*) - count(distinct id) from raw_connectwise.{table}")
            == 0
        )
    # and the run after that has nothing left to do
    assert connectwise.run(warehouse, cw_config(sandbox)).rows_loaded == 0
