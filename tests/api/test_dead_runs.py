"""Runs reflect reality (issue 13 item 4).

A refresh whose process died (killed, machine crashed) left its run `running`
in the log until the next CLI command reconciled it. Now the very next read of
`/refresh`, `/refresh/<batch_id>` and `/health` shows it failed, with why,
through the one shared function `qbr.refresh.reconcile_on_read`.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import psycopg
import pytest
from psycopg.types.json import Jsonb
from ulid import ULID

API = "/api/qbr"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _insert_dead_run(settings, pid: int) -> str:
    """What a refresh killed by SIGKILL mid-load leaves: run and a step `running`."""
    batch_id = f"bc_{ULID()}"
    with psycopg.connect(settings.url) as conn:
        conn.execute(
            "insert into qbr_app.refresh_runs (batch_id, status, trigger, options, pid, "
            "started_at, created_at) values (%s, 'running', 'api', %s, %s, "
            "now() - interval '5 minutes', now() - interval '5 minutes')",
            (batch_id, Jsonb({"sources": ["connectwise"], "host": socket.gethostname()}), pid),
        )
        conn.execute(
            "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind, status, "
            "started_at) values (%s, 0, 'connectwise', 'source', 'running', "
            "now() - interval '4 minutes'), (%s, 1, 'dbt_build', 'build', 'queued', null)",
            (batch_id, batch_id),
        )
    return batch_id


@pytest.fixture
def dead(make_api):
    admin, reader, settings = make_api()
    pid = _dead_pid()
    return reader, _insert_dead_run(settings, pid), pid


def test_a_dead_run_reads_as_failed_in_the_run_list(dead):
    reader, batch_id, pid = dead
    runs = reader.get(f"{API}/refresh").get_json()["runs"]
    run = next(r for r in runs if r["batch_id"] == batch_id)
    assert run["status"] == "failed"
    assert run["error"] == (f"the refresh died without finishing: its process (pid {pid}) is gone")
    assert run["finished_at"] is not None


def test_a_dead_run_reads_as_failed_on_its_own_page(dead):
    reader, batch_id, pid = dead
    run = reader.get(f"{API}/refresh/{batch_id}").get_json()
    assert run["status"] == "failed" and f"pid {pid}" in run["error"]
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["connectwise"]["status"] == "failed"
    assert steps["connectwise"]["error"].startswith("interrupted: the refresh died")
    assert steps["dbt_build"]["status"] == "skipped"


def test_a_dead_run_reads_as_failed_in_health(dead):
    reader, batch_id, _ = dead
    health = reader.get(f"{API}/health").get_json()
    assert health["last_refresh"]["batch_id"] == batch_id
    assert health["last_refresh"]["status"] == "failed"


def test_a_live_run_stays_running(make_api):
    """The lock held by a live refresh keeps its run `running` across reads."""
    from qbr import refresh

    _, reader, settings = make_api()
    batch_id = _insert_dead_run(settings, _dead_pid())
    with psycopg.connect(settings.url, autocommit=True) as holder:
        holder.execute(
            "select pg_advisory_lock(%s, %s)", (refresh.LOCK_NAMESPACE, refresh.RUN_LOCK)
        )
        assert reader.get(f"{API}/refresh/{batch_id}").get_json()["status"] == "running"
        assert reader.get(f"{API}/health").get_json()["last_refresh"]["status"] == "running"
    assert reader.get(f"{API}/refresh/{batch_id}").get_json()["status"] == "failed"
