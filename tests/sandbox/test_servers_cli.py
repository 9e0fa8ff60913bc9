"""`sandbox.cli`: up / status / advance / fault / clear / down as separate processes."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import requests

from sandbox import cli


@pytest.fixture
def state_dir(tmp_path: Path):
    yield tmp_path
    cli.down(tmp_path)  # never leave a process behind, even when a test fails


def test_up_status_advance_fault_down_round_trip(state_dir: Path) -> None:
    state = cli.up("tiny", 0, "127.0.0.1", 0, state_dir)
    pid = state["pid"]
    assert psutil.pid_exists(pid)
    on_disk = cli.read_state(state_dir)
    assert on_disk is not None and on_disk["pid"] == pid
    for key in ("urls", "credentials", "preset", "seed", "started_at"):
        assert key in on_disk
    assert on_disk["preset"] == "tiny"
    assert set(on_disk["credentials"]) == {"connectwise", "quickbooks", "ninjaone"}

    # the servers answer as soon as the state file exists
    creds = state["credentials"]["connectwise"]
    auth = (f"{creds['company_id']}+{creds['public_key']}", creds["private_key"])
    headers = {"clientId": creds["client_id"]}
    count_url = state["urls"]["connectwise"] + "service/tickets/count"
    assert requests.get(count_url, auth=auth, headers=headers, timeout=5).json() == {"count": 30}

    again = cli.up("tiny", 0, "127.0.0.1", 0, state_dir)  # harmless when already up
    assert again["pid"] == pid and again["already_running"] is True

    status = cli.status(state_dir)
    assert status["running"] is True and status["now"] == "2025-03-15T12:00:00Z"

    advanced = cli.advance(state_dir, 3)
    assert advanced["now"] == "2025-03-18T12:00:00Z"
    assert requests.get(count_url, auth=auth, headers=headers, timeout=5).json() == {"count": 31}

    cli.fault(state_dir, "connectwise", "rate_limit", count=1, retry_after=4)
    limited = requests.get(count_url, auth=auth, headers=headers, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "4"
    cli.fault(state_dir, "quickbooks", "down", mode="503")
    assert cli.status(state_dir)["sources"]["quickbooks"]["faults"][0]["kind"] == "down"
    cli.clear(state_dir)
    assert all(not s["faults"] for s in cli.status(state_dir)["sources"].values())
    with pytest.raises(cli.SandboxError):
        cli.fault(state_dir, "connectwise", "meteor")

    proc = psutil.Process(pid)
    assert cli.down(state_dir) is True
    assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    assert cli.read_state(state_dir) is None
    assert cli.down(state_dir) is False
    assert cli.status(state_dir) == {"running": False}
    with pytest.raises(cli.SandboxError):
        cli.advance(state_dir, 1)


def test_stale_state_file_is_replaced(state_dir: Path) -> None:
    (state_dir / cli.STATE_FILE).write_text('{"pid": 999999999, "urls": {}}')
    assert cli.status(state_dir) == {"running": False}
    state = cli.up("tiny", 0, "127.0.0.1", 0, state_dir)
    assert state["pid"] != 999999999 and psutil.pid_exists(state["pid"])


def test_a_failing_start_reports_the_log(state_dir: Path) -> None:
    with pytest.raises(cli.SandboxError, match="exited"):
        cli.up("no-such-preset", 0, "127.0.0.1", 0, state_dir, timeout=30)
    assert cli.read_state(state_dir) is None
