"""Creating runs: the one place a batch id is made, for the CLI and the API alike.

`claim()` is how a refresh process starts: it takes the run lock and either
creates a `running` row (the CLI) or picks up the `queued` row named by its
batch id. `start_background()` is what the API's POST /refresh calls: it queues
the row and starts `python -m qbr.app.refresh --batch-id <id>` as a detached
process (by module name: the web process never imports the application layer),
which claims it. Both create the row through `create_run()`, which makes the
batch id.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from ulid import ULID

from qbr import db, periods
from qbr.errors import QbrError
from qbr.refresh.errors import RefreshBusy, RefreshOptionsError
from qbr.refresh.locks import LOCK_NAMESPACE, RUN_LOCK, take_trigger_lock
from qbr.refresh.reconcile import reconcile_locked
from qbr.refresh.runlog import Step
from qbr.settings import PROJECT_ROOT, Settings
from qbr.sources import configured_sources

log = logging.getLogger("qbr.refresh")

#: The process that runs a queued refresh (started by module name, never imported here).
RUNNER_MODULE = "qbr.app.refresh"
TRIGGERS = ("cli", "api", "schedule", "demo", "test")
SOURCE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def new_batch_id() -> str:
    return f"bc_{ULID()}"


def check_since(since: str | None) -> None:
    """`--since` is a month (qbr.periods); RefreshOptionsError (API: 400) otherwise."""
    if since is None:
        return
    try:
        periods.parse_month(since, "--since")
    except periods.PeriodError as exc:
        raise RefreshOptionsError(str(exc)) from None


def resolve_sources(settings: Settings, sources: list[str] | None) -> list[str]:
    """None = every configured source (qbr.sources); an explicit list (even empty) is
    taken as given."""
    if sources is None:
        return configured_sources(settings)
    names: list[str] = []
    for name in sources:
        name = name.strip()
        if not SOURCE_NAME_RE.match(name):
            raise RefreshOptionsError(f"Not a source name: {name!r}.")
        if name not in names:
            names.append(name)
    return names


def plan(names: list[str]) -> list[Step]:
    """A run's steps: one per source, then the build."""
    return [Step(n, "source") for n in names] + [Step("dbt_build", "build")]


def options_for(
    names: list[str],
    since: str | None,
    full: bool,
    project_dir: Path | str | None,
    dbt_vars: dict[str, Any] | None,
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "sources": names,
        "since": since,
        "full": bool(full),
        "host": socket.gethostname(),
    }
    if project_dir:
        options["project_dir"] = str(Path(project_dir).resolve())
    if dbt_vars:
        options["dbt_vars"] = dbt_vars
    return options


def create_run(
    conn: psycopg.Connection,
    status: str,
    trigger: str,
    requested_by: str | None,
    options: dict[str, Any],
    steps: list[Step],
    log_dir: Path | None = None,
) -> str:
    """Insert a run and its steps; returns its new batch id (the only place one is made).

    With `log_dir`, the run's output file `<log_dir>/refresh-<batch_id>.log` is
    recorded in its options (a queued run's process writes there).
    """
    if trigger not in TRIGGERS:
        raise RefreshOptionsError(f"Unknown trigger {trigger!r} (one of {', '.join(TRIGGERS)}).")
    batch_id = new_batch_id()
    if log_dir is not None:
        options["log_file"] = str(log_dir / f"refresh-{batch_id}.log")
    conn.execute(
        "insert into qbr_app.refresh_runs "
        "(batch_id, status, trigger, requested_by, options, pid, started_at) "
        "values (%s, %s, %s, %s, %s, %s, case when %s then now() end)",
        (
            batch_id,
            status,
            trigger,
            requested_by,
            Jsonb(options),
            os.getpid() if status == "running" else None,
            status == "running",
        ),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind) "
            "values (%s, %s, %s, %s)",
            [(batch_id, i, s.name, s.kind) for i, s in enumerate(steps)],
        )
    return batch_id


def claim(
    conn: psycopg.Connection,
    *,
    batch_id: str | None,
    names: list[str],
    options: dict[str, Any],
    trigger: str,
    requested_by: str | None,
) -> tuple[str, list[Step], dict[str, Any]]:
    """Take the run lock and create (or pick up the queued) run row, atomically.

    Raises RefreshBusy when another refresh is queued or running.
    """
    refusal: tuple[str | None, str] | None = None
    problem: QbrError | None = None
    steps: list[Step] = []
    with conn.transaction():
        take_trigger_lock(conn)
        got = conn.execute(
            "select pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, RUN_LOCK)
        ).fetchone()[0]
        _, busy = reconcile_locked(conn, lock_is_ours=got, keep=batch_id)
        if not got or busy:
            refusal = busy or (None, "running")
        elif batch_id:
            row = conn.execute(
                "select status, options from qbr_app.refresh_runs where batch_id = %s for update",
                (batch_id,),
            ).fetchone()
            if row is None or row[0] != "queued":
                state = row[0] if row else "unknown"
                problem = QbrError(f"Refresh {batch_id} is not queued ({state}): nothing to run.")
            else:
                options = dict(row[1] or {})
                options["host"] = socket.gethostname()
                conn.execute(
                    "update qbr_app.refresh_runs set status = 'running', started_at = now(), "
                    "pid = %s, options = %s where batch_id = %s",
                    (os.getpid(), Jsonb(options), batch_id),
                )
                steps = [
                    Step(name, kind)
                    for name, kind in conn.execute(
                        "select name, kind from qbr_app.refresh_steps where batch_id = %s "
                        "order by step_order",
                        (batch_id,),
                    )
                ]
        else:
            steps = plan(names)
            batch_id = create_run(conn, "running", trigger, requested_by, options, steps)
        if refusal and batch_id:
            who = refusal[0] or "another refresh"
            conn.execute(
                "update qbr_app.refresh_runs set status = 'failed', finished_at = now(), "
                "error = %s where batch_id = %s and status = 'queued'",
                (f"not started: {who} was already {refusal[1]}", batch_id),
            )
            conn.execute(
                "update qbr_app.refresh_steps set status = 'skipped' where batch_id = %s",
                (batch_id,),
            )
        if got and (refusal or problem):
            conn.execute("select pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, RUN_LOCK))
    if refusal:
        raise RefreshBusy(*refusal)
    if problem:
        raise problem
    assert batch_id is not None
    return batch_id, steps, options


# --- background runs (the API) ----------------------------------------------------------------

#: Refresh processes started by this (web) process; finished ones are reaped at each start.
_children: list[subprocess.Popen] = []


def child_env(settings: Settings) -> dict[str, str]:
    """The child must see exactly these settings, however the caller built them."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        key = f"QBR_{name.upper()}"
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(settings: Settings, batch_id: str, log_path: Path) -> subprocess.Popen:
    """`python -m qbr.app.refresh --batch-id <id>`, detached, output to `log_path`."""
    global _children
    _children = [p for p in _children if p.poll() is None]  # reap finished ones
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", RUNNER_MODULE, "--batch-id", batch_id],
            cwd=PROJECT_ROOT,
            env=child_env(settings),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the web worker; not killed with it
            close_fds=True,
        )
    _children.append(proc)
    return proc


def start_background(
    settings: Settings,
    sources: list[str] | None = None,
    since: str | None = None,
    full: bool = False,
    requested_by: str | None = None,
    *,
    trigger: str = "api",
    project_dir: Path | str | None = None,
    dbt_vars: dict[str, Any] | None = None,
) -> str:
    """Queue a refresh and start it in a detached process; returns its batch_id at once.

    The web process never runs the refresh itself: `python -m qbr.app.refresh
    --batch-id <id>` picks the queued row up. Raises RefreshBusy (API: 409) when
    a refresh is queued or running, RefreshOptionsError (a ValueError; API: 400)
    for bad sources / since. Two concurrent calls produce exactly one run.
    """
    check_since(since)
    names = resolve_sources(settings, sources)
    options = options_for(names, since, full, project_dir, dbt_vars)
    with db.connect(settings, autocommit=True) as conn, conn.transaction():
        take_trigger_lock(conn)
        _, busy = reconcile_locked(conn, lock_is_ours=False)
        if busy is None:
            batch_id = create_run(
                conn, "queued", trigger, requested_by, options, plan(names), settings.home / "logs"
            )
            log_path = Path(options["log_file"])
            # Spawned inside the transaction: the child waits on the trigger lock until
            # the row is committed; if this transaction fails the child finds no row.
            proc = spawn(settings, batch_id, log_path)
            conn.execute(
                "update qbr_app.refresh_runs set pid = %s where batch_id = %s",
                (proc.pid, batch_id),
            )
    if busy is not None:
        raise RefreshBusy(*busy)
    log.info("refresh %s queued (pid %s, log %s)", batch_id, proc.pid, log_path)
    return batch_id
