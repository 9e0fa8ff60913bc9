"""Runs whose process died read as failed, with why, on the very next read."""

from __future__ import annotations

import logging

import psycopg
import psycopg.rows

from qbr import db
from qbr.refresh.locks import (
    LOCK_NAMESPACE,
    RUN_LOCK,
    pid_alive,
    run_lock_held,
    take_trigger_lock,
)
from qbr.refresh.runlog import one_line_error
from qbr.settings import Settings

log = logging.getLogger("qbr.refresh")

#: A queued run whose process has not claimed it by then never will.
QUEUED_START_TIMEOUT_S = 300


def fail_run(conn: psycopg.Connection, batch_id: str, error: str) -> None:
    conn.execute(
        "update qbr_app.refresh_runs set status = 'failed', error = %s, "
        "finished_at = greatest(now(), coalesce(started_at, now())) where batch_id = %s",
        (error, batch_id),
    )
    conn.execute(
        "update qbr_app.refresh_steps set status = 'failed', error = %s, finished_at = now(), "
        "duration_ms = (extract(epoch from now() - started_at) * 1000)::bigint "
        "where batch_id = %s and status = 'running'",
        (f"interrupted: {error}", batch_id),
    )
    conn.execute(
        "update qbr_app.refresh_steps set status = 'skipped' "
        "where batch_id = %s and status = 'queued'",
        (batch_id,),
    )


def reconcile_locked(
    conn: psycopg.Connection, *, lock_is_ours: bool, keep: str | None = None
) -> tuple[list[str], tuple[str | None, str] | None]:
    """Mark dead runs failed; return (recovered batch ids, the live active run or None).

    Call inside a transaction holding the trigger lock. A `running` row is alive
    exactly when the run lock is held by someone else (its holder inserted the row
    under the same trigger lock). A `queued` row is alive while its process
    (started by `start_background`) may still claim it.
    """
    held_by_other = not lock_is_ours and run_lock_held(conn)
    recovered: list[str] = []
    busy: tuple[str | None, str] | None = None
    rows = conn.execute(
        "select batch_id, status, pid, options->>'host', "
        "extract(epoch from now() - created_at) from qbr_app.refresh_runs "
        "where status in ('queued', 'running') order by created_at"
    ).fetchall()
    for batch_id, status, pid, host, age in rows:
        if batch_id == keep:
            continue
        if status == "running":
            if held_by_other:
                busy = busy or (batch_id, status)
                continue
            alive = pid_alive(pid, host)
            why = (
                f"its process (pid {pid}) is gone"
                if alive is False
                else f"its process (pid {pid}) no longer holds the refresh lock"
            )
            fail_run(conn, batch_id, f"the refresh died without finishing: {why}")
        else:
            alive = pid_alive(pid, host)
            if alive is not False and float(age) < QUEUED_START_TIMEOUT_S:
                busy = busy or (batch_id, status)
                continue
            why = f"its process (pid {pid}) is gone" if alive is False else "timed out"
            fail_run(conn, batch_id, f"the queued refresh never started: {why}")
        recovered.append(batch_id)
        log.warning("marked refresh %s failed (it was %s and is dead)", batch_id, status)
    if busy is None and held_by_other:
        busy = (None, "running")
    return recovered, busy


def reconcile(settings: Settings) -> list[str]:
    """Mark runs that died (or never started) failed; returns their batch ids.

    Cheap (a few catalog reads); safe to call from `qbr runs` or an API read.
    """
    with db.connect(settings, autocommit=True) as conn, conn.transaction():
        take_trigger_lock(conn)
        recovered, _ = reconcile_locked(conn, lock_is_ours=False)
    return recovered


#: Whether reconciling could change anything: a queued run (its process may be gone), or
#: a running one while nobody holds the run lock (a live refresh always does).
NEEDS_RECONCILE_SQL = """
select exists (select from qbr_app.refresh_runs where status = 'queued')
    or (exists (select from qbr_app.refresh_runs where status = 'running')
        and not exists (
            select from pg_locks where locktype = 'advisory' and granted
            and database = (select oid from pg_database where datname = current_database())
            and classid::bigint = %s and objid::bigint = %s and objsubid = 2))
"""


def reconcile_on_read(settings: Settings, conn: psycopg.Connection | None = None) -> list[str]:
    """The one reconciliation every reader of the run log calls first (`/refresh`,
    `/refresh/<batch_id>`, `/health`, `qbr runs`, `qbr status`): a run whose process
    died reads as failed, with why, on the very next read.

    `conn` (the reader's own connection, e.g. the API's least-privilege one) answers
    the cheap question first: could any run be dead (queued, or running while nobody
    holds the run lock)? Only then is the run log reconciled (`reconcile`, as the
    owner: it writes). Never raises: a read must not fail because reconciling did
    (it is logged and retried on the next read).
    """
    try:
        if conn is not None:
            with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
                row = cur.execute(NEEDS_RECONCILE_SQL, (LOCK_NAMESPACE, RUN_LOCK)).fetchone()
                if not row[0]:
                    return []
        return reconcile(settings)
    except Exception as exc:  # noqa: BLE001 - a read goes on with what is stored
        log.warning("could not reconcile the refresh runs: %s", one_line_error(exc))
        return []
