"""One refresh at a time: the advisory lock, background triggers, dead runs recovered."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import psycopg
import pytest
from psycopg.types.json import Jsonb

from qbr.app import refresh
from qbr.errors import QbrError
from qbr.refresh import queue
from tests.app.refresh.conftest import query, wait_for


def run(settings, project, **kwargs):
    kwargs.setdefault("sources", [])
    return refresh.run_refresh(settings, trigger="test", echo=False, project_dir=project, **kwargs)


def background(settings, project, **kwargs):
    kwargs.setdefault("sources", [])
    return refresh.start_background(
        settings, requested_by="tester", trigger="test", project_dir=project, **kwargs
    )


def run_row(settings, batch_id):
    [row] = query(
        settings,
        "select status, split_part(coalesce(error, ''), E'\\n', 1), pid "
        "from qbr_app.refresh_runs where batch_id = %s",
        (batch_id,),
    )
    return row


def step_states(settings, batch_id):
    return query(
        settings,
        "select name, status, split_part(coalesce(error, ''), E'\\n', 1) "
        "from qbr_app.refresh_steps where batch_id = %s order by step_order",
        (batch_id,),
    )


def lock_held(settings) -> bool:
    return bool(
        query(
            settings,
            "select 1 from pg_locks where locktype = 'advisory' and classid::bigint = %s "
            "and objid::bigint = %s and objsubid = 2 "
            "and database = (select oid from pg_database where datname = current_database())",
            (refresh.LOCK_NAMESPACE, refresh.RUN_LOCK),
        )
    )


def finished(settings, batch_id):
    status = run_row(settings, batch_id)[0]
    return status if status not in ("queued", "running") else None


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def reap(pid: int) -> None:
    for proc in queue._children:
        if proc.pid == pid:
            proc.wait(timeout=60)


def test_second_refresh_while_one_runs_is_refused_with_its_batch_id(rdb, standin_project):
    results = []
    worker = threading.Thread(
        target=lambda: results.append(run(rdb, standin_project, dbt_vars={"sleep": 4}))
    )
    worker.start()
    try:
        [(running,)] = wait_for(
            lambda: query(rdb, "select batch_id from qbr_app.refresh_runs where status = 'running'")
        )
        with pytest.raises(refresh.RefreshBusy) as busy:
            run(rdb, standin_project)
        assert busy.value.batch_id == running
        assert busy.value.exit_code == 3
        assert running in str(busy.value)
        with pytest.raises(refresh.RefreshBusy) as busy_api:
            background(rdb, standin_project)
        assert busy_api.value.batch_id == running
    finally:
        worker.join()
    assert results[0].status == "succeeded"
    assert query(rdb, "select batch_id from qbr_app.refresh_runs") == [(running,)]


def test_concurrent_triggers_make_exactly_one_run(rdb, standin_project):
    barrier = threading.Barrier(6)
    outcomes: list[tuple[str, str | None]] = []

    def trigger():
        barrier.wait()
        try:
            outcomes.append(("started", background(rdb, standin_project, dbt_vars={"sleep": 3})))
        except refresh.RefreshBusy as exc:
            outcomes.append(("busy", exc.batch_id))

    threads = [threading.Thread(target=trigger) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    started = [b for kind, b in outcomes if kind == "started"]
    assert len(started) == 1, outcomes
    batch_id = started[0]
    assert sorted(outcomes) == sorted([("started", batch_id)] + [("busy", batch_id)] * 5)
    assert query(rdb, "select batch_id from qbr_app.refresh_runs") == [(batch_id,)]

    # The detached process picks the queued run up; its status comes from the run log.
    assert wait_for(lambda: finished(rdb, batch_id), timeout=180) == "succeeded"
    [(trigger_, requested_by, options)] = query(
        rdb, "select trigger, requested_by, options from qbr_app.refresh_runs"
    )
    assert (trigger_, requested_by) == ("test", "tester")
    assert os.path.exists(options["log_file"])
    assert step_states(rdb, batch_id) == [("dbt_build", "succeeded", "")]
    assert query(rdb, "select row_count, version from qbr.mart_summary") == [(3, "v1")]


def test_refresh_killed_mid_build_is_marked_failed_and_the_next_one_completes(rdb, standin_project):
    batch_id = background(rdb, standin_project, dbt_vars={"sleep": 30, "version": "doomed"})
    wait_for(lambda: run_row(rdb, batch_id)[0] == "running", timeout=60)
    pid = run_row(rdb, batch_id)[2]
    sleeping = (
        "select 1 from pg_stat_activity where datname = current_database() "
        "and query like '%%pg_sleep(30)%%' and pid <> pg_backend_pid()"
    )
    wait_for(lambda: query(rdb, sleeping), timeout=60)  # dbt is building the slow model

    os.kill(pid, signal.SIGKILL)
    reap(pid)
    wait_for(lambda: not lock_held(rdb), timeout=30)
    # The dbt child died with its parent and its query was cancelled server-side.
    wait_for(lambda: not query(rdb, sleeping), timeout=20)
    assert run_row(rdb, batch_id)[0] == "running"  # nobody has looked yet

    result = run(rdb, standin_project, dbt_vars={"version": "v2"})

    assert result.status == "succeeded"
    status, error, _ = run_row(rdb, batch_id)
    assert status == "failed"
    assert error == f"the refresh died without finishing: its process (pid {pid}) is gone"
    assert step_states(rdb, batch_id) == [("dbt_build", "failed", f"interrupted: {error}")]
    assert query(rdb, "select row_count, version from qbr.mart_summary") == [(3, "v2")]
    assert query(rdb, "select nspname from pg_namespace where nspname like 'qbr\\_\\_%%'") == []


def test_sigterm_is_recorded_as_failed_with_the_rest_skipped(rdb, standin_project):
    batch_id = background(rdb, standin_project, dbt_vars={"sleep": 30})
    wait_for(lambda: run_row(rdb, batch_id)[0] == "running", timeout=60)
    pid = run_row(rdb, batch_id)[2]
    wait_for(lambda: step_states(rdb, batch_id)[0][1] == "running", timeout=60)
    os.kill(pid, signal.SIGTERM)
    reap(pid)
    assert run_row(rdb, batch_id)[:2] == ("failed", "interrupted (SIGTERM)")
    assert step_states(rdb, batch_id) == [("dbt_build", "failed", "interrupted (SIGTERM)")]
    assert not lock_held(rdb)
    assert query(rdb, "select nspname from pg_namespace where nspname like 'qbr\\_\\_%%'") == []


def _insert(settings, status, pid, age, host=None, steps=("connectwise", "dbt_build")):
    batch_id = refresh.new_batch_id()
    options = {"sources": ["connectwise"], "host": host} if host else {"sources": []}
    with psycopg.connect(settings.url, autocommit=True) as conn:
        conn.execute(
            "insert into qbr_app.refresh_runs (batch_id, status, trigger, pid, options, "
            "created_at, started_at) values (%s, %s, 'test', %s, %s, now() - %s::interval, "
            "case when %s = 'running' then now() - %s::interval end)",
            (batch_id, status, pid, Jsonb(options), age, status, age),
        )
        for i, name in enumerate(steps):
            conn.execute(
                "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind, status, "
                "started_at) values (%s, %s, %s, %s, %s, %s)",
                (
                    batch_id,
                    i,
                    name,
                    "build" if name == "dbt_build" else "source",
                    "running" if (status == "running" and i == 0) else "queued",
                    None,
                ),
            )
    return batch_id


def test_stale_running_and_queued_rows_are_recovered_at_the_next_start(rdb, standin_project):
    host = socket.gethostname()
    died = _insert(rdb, "running", dead_pid(), "2 hours", host)
    elsewhere = _insert(rdb, "running", 1, "3 hours", "another-host")  # lock not held: dead
    never_started = _insert(rdb, "queued", dead_pid(), "5 seconds", host)
    timed_out = _insert(rdb, "queued", None, "1 hour")

    result = run(rdb, standin_project)

    assert result.status == "succeeded"
    assert run_row(rdb, died)[:2] == (
        "failed",
        f"the refresh died without finishing: its process (pid {run_row(rdb, died)[2]}) is gone",
    )
    assert run_row(rdb, elsewhere)[:2] == (
        "failed",
        "the refresh died without finishing: its process (pid 1) no longer holds the refresh lock",
    )
    assert run_row(rdb, never_started)[1].startswith("the queued refresh never started")
    assert run_row(rdb, timed_out)[:2] == ("failed", "the queued refresh never started: timed out")
    assert [s[1] for s in step_states(rdb, died)] == ["failed", "skipped"]
    assert [s[1] for s in step_states(rdb, timed_out)] == ["skipped", "skipped"]
    assert query(
        rdb, "select count(*) from qbr_app.refresh_runs where status in ('queued', 'running')"
    ) == [(0,)]


def test_a_live_queued_run_blocks_others_and_reconcile_leaves_it(rdb, standin_project):
    queued = _insert(rdb, "queued", os.getpid(), "1 second", socket.gethostname())
    assert refresh.reconcile(rdb) == []
    with pytest.raises(refresh.RefreshBusy) as busy:
        run(rdb, standin_project)
    assert (busy.value.batch_id, busy.value.status) == (queued, "queued")
    with pytest.raises(refresh.RefreshBusy):
        background(rdb, standin_project)
    assert run_row(rdb, queued)[0] == "queued"


def test_picking_up_a_batch_that_is_not_queued_is_refused(rdb, standin_project):
    result = run(rdb, standin_project)
    with pytest.raises(QbrError, match="is not queued"):
        refresh.run_refresh(rdb, batch_id=result.batch_id, echo=False)
    assert not lock_held(rdb)


def test_reconcile_marks_a_dead_run_without_starting_one(rdb):
    died = _insert(rdb, "running", dead_pid(), "10 minutes")
    assert refresh.reconcile(rdb) == [died]
    assert run_row(rdb, died)[0] == "failed"
    assert refresh.reconcile(rdb) == []
