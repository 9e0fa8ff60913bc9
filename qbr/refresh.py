"""One refresh: every configured source, then `dbt build`, recorded as one run.

Each source loads independently (one failing does not stop the others); the
build runs after them. The run and its steps are written to
`qbr_app.refresh_runs` / `refresh_steps` as they happen, so the API and
`qbr runs` can show progress while it is going.

Outcome: every step good -> `succeeded`; a source failed but the build went
through -> `partial` (that source's metrics are as of its last good load,
`last_good_load()` / the `qbr_app.source_freshness` view); the build failed
(a model or a test) -> `failed`, and readers keep the previous marts.

Readers never see half-built marts (docs/contracts.md section 3): dbt builds
the marts into `qbr__build` (`--vars '{marts_suffix: __build}'`), and only a
successful build is swapped in, in one short transaction that takes the old
marts' views and tables ACCESS EXCLUSIVE (alternating an instant NOWAIT try with a
short wait under half the deadlock timeout, retried with jitter, so a reader is
never deadlocked or errored), renames
`qbr` -> `qbr__old` and `qbr__build` -> `qbr` and re-grants the API role. A
statement that was reading the old marts finishes on them; the next one sees
the new set. `qbr__old` is dropped right after in its own transaction (a
long reader can delay that, never the swap); a failed build drops
`qbr__build`.

Single flight: the running refresh holds a PostgreSQL advisory lock on a
dedicated connection for its whole duration. Creating, claiming and
reconciling runs is serialised by a second, transaction-scoped advisory
lock, so "is anything running? then insert mine" is atomic. A run whose
process died loses its lock with its connection: the next start (or
`reconcile()`) marks it failed, and a queued run whose process never
started likewise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import psycopg.rows
from psycopg import sql
from psycopg.types.json import Jsonb
from ulid import ULID

from qbr import db, dbt_runner, progress, timings
from qbr.errors import QbrError
from qbr.settings import PROJECT_ROOT, Settings
from qbr.sources import configured_sources

log = logging.getLogger("qbr.refresh")

MARTS_SCHEMA = "qbr"
BUILD_SUFFIX = "__build"
OLD_SUFFIX = "__old"
BUILD_SCHEMA = MARTS_SCHEMA + BUILD_SUFFIX
OLD_SCHEMA = MARTS_SCHEMA + OLD_SUFFIX
#: The other schemas dbt writes. A project that declares the var `layers_suffix` (ours
#: does) builds them into `<name>__build` as well, and all are swapped in together, so a
#: failed build never leaves a half-rebuilt layer behind (a view rebuilt by dbt drops its
#: dependants with CASCADE; one skipped after a failure would stay missing).
LAYER_SCHEMAS = ("qbr_staging", "qbr_intermediate", "qbr_seeds")
#: Layers whose tables (dbt incremental models) are copied into the side schema before
#: a build, so an incremental build stays incremental (`--full` skips the copy).
INCREMENTAL_LAYERS = ("qbr_staging", "qbr_intermediate")

#: Advisory locks, two-key form: (namespace "QBR\0", which lock).
LOCK_NAMESPACE = 0x51425200
#: Session lock held by the one running refresh, on its own connection.
RUN_LOCK = 1
#: Transaction lock serialising create / claim / reconcile of runs.
TRIGGER_LOCK = 2

#: A queued run whose process has not claimed it by then never will.
QUEUED_START_TIMEOUT_S = 300
#: Lock wait per attempt, capped at half the server's deadlock_timeout: in a lock cycle
#: with a reader, the swap always gives up (and retries) before a reader could be the
#: one the deadlock detector aborts.
SWAP_LOCK_TIMEOUT_MS = 500
SWAP_MAX_WAIT_S = 600
DROP_MAX_WAIT_S = 60
PROGRESS_INTERVAL_S = 1.0
#: Exit codes of `qbr refresh` (and `python -m qbr.refresh`): 0 only when every step
#: succeeded. 2 is a bad option or configuration (nothing ran); 3 "another refresh is
#: running" is success for systemd (SuccessExitStatus=3); 130 interrupted.
EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_BUSY = 3
EXIT_PARTIAL = 4
EXIT_INTERRUPTED = 130


def exit_code(status: str) -> int:
    """The process exit code for a finished run's status."""
    return {"succeeded": EXIT_SUCCEEDED, "partial": EXIT_PARTIAL}.get(status, EXIT_FAILED)


MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
SOURCE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ACTIVE = ("queued", "running")


class RefreshBusy(QbrError):
    """A refresh is already queued or running: one at a time (CLI exit 3, API 409)."""

    exit_code = EXIT_BUSY

    def __init__(self, batch_id: str | None, status: str = "running"):
        self.batch_id = batch_id
        self.status = status
        what = f"{batch_id} is {status}" if batch_id else "another process holds the refresh lock"
        super().__init__(f"A refresh is already in progress ({what}); try again when it ends.")


class RefreshInterrupted(KeyboardInterrupt):
    """SIGTERM (systemd stop, kill) during a run: recorded as failed, then re-raised."""


class RefreshOptionsError(QbrError, ValueError):
    """Bad sources / since given to a refresh (the API answers 400)."""


class StepError(Exception):
    """A step failed; `details` still go to the run log."""

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.details = details or {}


def new_batch_id() -> str:
    return f"bc_{ULID()}"


@dataclass
class Step:
    name: str
    kind: str
    status: str = "queued"
    rows_loaded: int | None = None
    rows_rejected: int | None = None
    error: str | None = None
    duration_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    batch_id: str
    status: str
    steps: list[Step]
    error: str | None = None
    anomaly_flags: list[dict[str, Any]] = field(default_factory=list)


class RunLog:
    """Writes a run's steps and progress to qbr_app as they happen (short connections)."""

    def __init__(self, settings: Settings, batch_id: str):
        self.settings = settings
        self.batch_id = batch_id
        self._last_progress = 0.0

    def _exec(self, query: str, params: tuple) -> int:
        with db.connect(self.settings) as conn:
            return conn.execute(query, params).rowcount

    def step_started(self, step: Step) -> None:
        self._exec(
            "update qbr_app.refresh_steps set status = 'running', started_at = now() "
            "where batch_id = %s and name = %s",
            (self.batch_id, step.name),
        )

    def step_finished(self, step: Step) -> None:
        self._exec(
            "update qbr_app.refresh_steps set status = %s, rows_loaded = %s, rows_rejected = %s, "
            "error = %s, finished_at = now(), duration_ms = %s, details = %s "
            "where batch_id = %s and name = %s",
            (
                step.status,
                step.rows_loaded,
                step.rows_rejected,
                step.error,
                step.duration_ms,
                Jsonb(step.details),
                self.batch_id,
                step.name,
            ),
        )

    def progress(self, percent: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self._exec(
            "update qbr_app.refresh_runs set progress = %s where batch_id = %s",
            (round(min(max(percent, 0.0), 100.0), 2), self.batch_id),
        )

    def finish(self, status: str, error: str | None, flags: list[dict[str, Any]]) -> bool:
        """False when the row is no longer ours (another process marked it failed)."""
        return bool(
            self._exec(
                "update qbr_app.refresh_runs set status = %s, error = %s, progress = 100, "
                "anomaly_flags = %s, finished_at = now() "
                "where batch_id = %s and status = 'running'",
                (status, error, Jsonb(flags), self.batch_id),
            )
        )


# --- locks and run-row bookkeeping ----------------------------------------------------------


def _take_trigger_lock(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, TRIGGER_LOCK))


def _run_lock_held(conn: psycopg.Connection, mine: bool = False) -> bool:
    """Whether some session (or, with `mine`, this one) holds the run lock in this database."""
    query = (
        "select exists (select from pg_locks where locktype = 'advisory' and granted "
        "and database = (select oid from pg_database where datname = current_database()) "
        "and classid::bigint = %s and objid::bigint = %s and objsubid = 2"
        + (" and pid = pg_backend_pid()" if mine else "")
        + ")"
    )
    return bool(conn.execute(query, (LOCK_NAMESPACE, RUN_LOCK)).fetchone()[0])


def _pid_alive(pid: int | None, host: str | None) -> bool | None:
    """True/False for a process on this host; None when it cannot be told (other host, no pid)."""
    if not pid or (host and host != socket.gethostname()):
        return None
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _fail_run(conn: psycopg.Connection, batch_id: str, error: str) -> None:
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


def _reconcile(
    conn: psycopg.Connection, *, lock_is_ours: bool, keep: str | None = None
) -> tuple[list[str], tuple[str | None, str] | None]:
    """Mark dead runs failed; return (recovered batch ids, the live active run or None).

    Call inside a transaction holding the trigger lock. A `running` row is alive
    exactly when the run lock is held by someone else (its holder inserted the row
    under the same trigger lock). A `queued` row is alive while its process
    (started by `start_background`) may still claim it.
    """
    held_by_other = not lock_is_ours and _run_lock_held(conn)
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
            alive = _pid_alive(pid, host)
            why = (
                f"its process (pid {pid}) is gone"
                if alive is False
                else f"its process (pid {pid}) no longer holds the refresh lock"
            )
            _fail_run(conn, batch_id, f"the refresh died without finishing: {why}")
        else:
            alive = _pid_alive(pid, host)
            if alive is not False and float(age) < QUEUED_START_TIMEOUT_S:
                busy = busy or (batch_id, status)
                continue
            why = f"its process (pid {pid}) is gone" if alive is False else "timed out"
            _fail_run(conn, batch_id, f"the queued refresh never started: {why}")
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
        _take_trigger_lock(conn)
        recovered, _ = _reconcile(conn, lock_is_ours=False)
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


def one_line_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".strip(": ")


def last_good_load(settings: Settings) -> dict[str, datetime]:
    """{source: finished_at of its newest successful load}, from qbr_app.refresh_steps."""
    with db.connect(settings) as conn:
        rows = conn.execute(
            "select name, max(finished_at) from qbr_app.refresh_steps "
            "where kind = 'source' and status = 'succeeded' group by name order by name"
        ).fetchall()
    return {name: finished for name, finished in rows}


def prepare_quietly(settings: Settings) -> None:
    """db.prepare (server, database, migrations) without alembic's INFO chatter."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(level, logging.WARNING))
    try:
        db.prepare(settings)
    finally:
        alembic_log.setLevel(level)


def _check_since(since: str | None) -> None:
    if since is not None and not MONTH_RE.match(since):
        raise RefreshOptionsError(f"--since must be a month as YYYY-MM, not {since!r}.")


def _resolve_sources(settings: Settings, sources: list[str] | None) -> list[str]:
    """None = every configured source; an explicit list (even empty) is taken as given."""
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


def _load_source(
    settings: Settings, name: str, full: bool, since: str | None = None
) -> tuple[int, dict]:
    """Load one source (dlt_pipelines/steps.py); one-line exception on failure."""
    from dlt_pipelines import steps

    return steps.load(settings, name, full=full, since=since)


# --- the build and the swap ----------------------------------------------------------------

#: "12 of 40 OK created sql table model qbr__build.periods ..... [SELECT 30 in 0.05s]"
DBT_RESULT_RE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|ERROR|FAIL|WARN|SKIP|NO-OP)\b\s*(.*)$")
DBT_DONE_RE = re.compile(r"\bDone\.\s+(PASS=.*)$")
DBT_TIMESTAMP_RE = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:\s+|$)")
DBT_FAILURE_PREFIXES = (
    "Failure in",
    "Error in",
    "Database Error",
    "Compilation Error",
    "Runtime Error",
    "Parsing Error",
    "Encountered an error",
)


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """In the dbt child: receive SIGTERM when the refresh process dies, even by SIGKILL,
    so a killed refresh never leaves a dbt build running behind it (Linux; elsewhere a
    no-op, and the next refresh waits for the orphan's locks before dropping qbr__build)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except Exception:
            pass


@dataclass
class _DbtOutcome:
    """What a `dbt build` printed, digested as it streams."""

    returncode: int = -1
    total: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    totals: str | None = None
    summary: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    last: tuple[str, str] = ("", "")
    _in_summary: bool = False

    def feed(self, line: str) -> str | None:
        """Take one output line; returns a progress line when a node finished."""
        self.tail = [*self.tail[-59:], line]
        if line.startswith("Completed with"):
            self._in_summary = True
        done = DBT_DONE_RE.search(line)
        if done:
            self._in_summary = False
            self.totals = done.group(1).strip()
            return None
        if self._in_summary:
            if line.strip():
                self.summary.append(line.rstrip())
            return None
        m = DBT_RESULT_RE.search(line)
        if not m:
            return None
        number, total, status, rest = m.groups()
        self.total = int(total)
        self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        what = re.split(r"\s\.{3,}|\s\[", rest, maxsplit=1)[0].strip()
        self.last = (status, what)
        return f"dbt {number}/{total} {status:<5} {what}"

    @property
    def failures(self) -> int:
        return self.counts.get("ERROR", 0) + self.counts.get("FAIL", 0)

    def error_message(self) -> str:
        body = self.summary or self.tail[-25:]
        starts = [i for i, x in enumerate(body) if x.strip().startswith(DBT_FAILURE_PREFIXES)]
        first = body[starts[0]].strip() if starts else None
        if first and first.endswith(":") and starts[0] + 1 < len(body):
            first = f"{first} {body[starts[0] + 1].strip()}"  # "Encountered an error:" + what
        head = (
            f"dbt build failed: {first}" if first else f"dbt build failed (exit {self.returncode})"
        )
        if self.failures > 1:
            head += f" (and {self.failures - 1} more)"
        return "\n".join([head, *body[:60]])

    def details(self) -> dict[str, Any]:
        return {"nodes": self.total, "results": self.counts, "totals": self.totals}


def _schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return bool(
        conn.execute(
            "select exists (select from pg_namespace where nspname = %s)", (name,)
        ).fetchone()[0]
    )


def _relations(conn: psycopg.Connection, schema: str, kinds: str = "rpmvf") -> set[str]:
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind = any(%s)",
        (schema, list(kinds)),
    ).fetchall()
    return {name for (name,) in rows}


def _grant_read(conn: psycopg.Connection) -> bool:
    """Re-grant the API's read role on the swapped-in marts (api.roles, when installed)."""
    try:
        from api.roles import grant_read
    except ImportError:
        log.debug("api.roles.grant_read is not available: no grants after the swap")
        return False
    grant_read(conn, schema=MARTS_SCHEMA)
    return True


class _Refresh:
    """One claimed run: executes its steps on behalf of run_refresh()."""

    def __init__(
        self,
        settings: Settings,
        conn: psycopg.Connection,
        batch_id: str,
        steps: list[Step],
        options: dict[str, Any],
        reporter: progress.Reporter,
    ):
        self.settings = settings
        self.conn = conn  # autocommit; holds the run lock; used for DDL (drop, swap)
        self.batch_id = batch_id
        self.steps = steps
        self.reporter = reporter
        self.say = reporter.line
        self.since: str | None = options.get("since")
        self.full = bool(options.get("full"))
        self.dbt_vars: dict[str, Any] = dict(options.get("dbt_vars") or {})
        project = options.get("project_dir")
        self.project_dir = Path(project) if project else None
        self.runlog = RunLog(settings, batch_id)
        self.dbt_proc: subprocess.Popen | None = None
        self.started = time.monotonic()
        self._lock_timeout_ms: int | None = None

    def percent(self, index: int, within: float = 0.0) -> float:
        return 100.0 * (index + within) / len(self.steps)

    # -- steps --------------------------------------------------------------------------------

    def execute(self) -> Run:
        names = [s.name for s in self.steps if s.kind == "source"]
        self.say(f"refresh {self.batch_id}: {', '.join(names) or 'no sources'}, then dbt build")
        try:
            for index, step in enumerate(self.steps):
                self._run_step(index, step)
        except KeyboardInterrupt as exc:
            self.reporter.close()
            self._interrupted(exc)
            raise
        return self._finish()

    def _run_step(self, index: int, step: Step) -> None:
        step.status = "running"
        self.runlog.step_started(step)
        self.runlog.progress(self.percent(index), force=True)
        self.reporter.step_started(index, len(self.steps), step.name, step.kind)
        started = time.monotonic()
        try:
            if step.kind == "source":
                with self.reporter.collecting():
                    rows, details = _load_source(self.settings, step.name, self.full, self.since)
                step.details = dict(details or {})
                step.rows_loaded = None if rows is None else max(int(rows), 0)
                rejected = step.details.get("rows_rejected")
                step.rows_rejected = None if rejected is None else max(int(rejected), 0)
            else:
                step.details = self._build(index)
            step.status = "succeeded"
        except Exception as exc:  # one failing step is recorded, the others go on
            step.status = "failed"
            step.error = (str(exc).strip() or type(exc).__name__)[:4000]
            if isinstance(exc, StepError):
                step.details.update(exc.details)
            log.debug("step %s failed", step.name, exc_info=True)
        step.duration_ms = int((time.monotonic() - started) * 1000)
        self.runlog.step_finished(step)
        self.runlog.progress(self.percent(index + 1), force=True)
        self.reporter.step_finished(step)

    def _build(self, index: int) -> dict[str, Any]:
        sources = [(s.name, s.status, s.rows_loaded) for s in self.steps if s.kind == "source"]
        decision = dbt_runner.decide_build(  # qbr/dbt_runner.py: skip when nothing changed
            self.conn, self.settings, project_dir=self.project_dir, dbt_vars=self.dbt_vars,
            full=self.full, since=self.since, sources=sources,
        )  # fmt: skip
        if decision.skip:
            return decision.details()
        for schema in self._swap_schemas():
            if not self._drop_schema(schema + BUILD_SUFFIX):
                raise StepError(
                    f"{schema + BUILD_SUFFIX} is still in use (an earlier build may still be "
                    "running); not building"
                )
        dbt_vars = {**self.dbt_vars, "marts_suffix": BUILD_SUFFIX}
        copied: dict[str, int] = {}
        if self.layered:
            dbt_vars["layers_suffix"] = BUILD_SUFFIX
            if not (self.full or decision.full_refresh):
                copied = self._copy_incremental_tables()
        if self.since:
            dbt_vars.setdefault("refresh_since", self.since)
        # unit tests check SQL logic on fixed inputs: `make test` runs them, not every refresh
        args = ["build", "--vars", json.dumps(dbt_vars), "--exclude-resource-type", "unit_test"]
        if self.full or decision.full_refresh:  # rules changed: incrementals rebuilt
            args.append("--full-refresh")
        outcome = self._run_dbt(args, index)
        if outcome.returncode != 0 and dbt_runner.is_deadlock(outcome.tail):  # dbt-core#9246
            self._drop_build_schemas()
            full = self.full or decision.full_refresh
            copied = self._copy_incremental_tables() if self.layered and not full else {}
            outcome = self._run_dbt(args, index)
            decision.reason += "; rebuilt once after a deadlock"
        details = {**outcome.details(), **decision.details()}
        if copied:
            details["incremental_tables_copied"] = copied
        env = dbt_runner.dbt_env(self.settings, None, self.project_dir)
        details.update(timings.dbt_node_timings(env))  # nodes over 1 s (qbr/timings.py)
        if outcome.returncode != 0:
            self._drop_build_schemas()
            raise StepError(outcome.error_message(), details)
        details.update(self._swap())
        details["overlay_tables"] = dbt_runner.refresh_overlays(self.conn)  # migration 0005
        return details

    @property
    def layered(self) -> bool:
        """Whether the dbt project builds every layer into side schemas (declares the var
        `layers_suffix`); a project that does not gets only its marts swapped."""
        if not hasattr(self, "_layered"):
            import yaml

            path = (self.project_dir or dbt_runner.DBT_PROJECT_DIR) / "dbt_project.yml"
            try:
                project = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError):
                project = {}
            self._layered = "layers_suffix" in (project.get("vars") or {})
        return self._layered

    def _swap_schemas(self) -> tuple[str, ...]:
        return (*LAYER_SCHEMAS, MARTS_SCHEMA) if self.layered else (MARTS_SCHEMA,)

    def _drop_build_schemas(self, wait_s: float = DROP_MAX_WAIT_S) -> None:
        for schema in self._swap_schemas():
            self._drop_schema(schema + BUILD_SUFFIX, wait_s=wait_s)

    def _copy_incremental_tables(self) -> dict[str, int]:
        """Copy the live layers' tables (incremental models) into the side schemas, so the
        build only adds to them; the live tables are never written by a build."""
        copied: dict[str, int] = {}
        for schema in INCREMENTAL_LAYERS:
            tables = sorted(_relations(self.conn, schema, "rp"))
            if not tables:
                continue
            target = schema + BUILD_SUFFIX
            with self.conn.transaction():
                self.conn.execute(
                    sql.SQL("create schema if not exists {}").format(sql.Identifier(target))
                )
                for table in tables:
                    self.conn.execute(
                        sql.SQL("create table {} (like {} including all)").format(
                            sql.Identifier(target, table), sql.Identifier(schema, table)
                        )
                    )
                    cur = self.conn.execute(
                        sql.SQL("insert into {} select * from {}").format(
                            sql.Identifier(target, table), sql.Identifier(schema, table)
                        )
                    )
                    copied[f"{schema}.{table}"] = cur.rowcount
        return copied

    def _run_dbt(self, args: list[str], index: int) -> _DbtOutcome:
        extra = {"DBT_USE_COLORS": "false"}
        if self.conn.info.server_version >= 140000:
            # A dbt killed mid-query must not leave its query running on the server.
            check = "-c client_connection_check_interval=2000"
            extra["PGOPTIONS"] = " ".join(x for x in (os.environ.get("PGOPTIONS"), check) if x)
        (self.settings.home / "logs" / "dbt").mkdir(parents=True, exist_ok=True)
        outcome = _DbtOutcome()
        proc = subprocess.Popen(
            [dbt_runner.dbt_executable(), *args],
            cwd=self.project_dir or dbt_runner.DBT_PROJECT_DIR,
            env=dbt_runner.dbt_env(self.settings, extra, self.project_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,  # only prctl: safe after fork
        )
        self.dbt_proc = proc
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                event = outcome.feed(DBT_TIMESTAMP_RE.sub("", raw.rstrip()))
                if event:
                    # Every node is in dbt's own log ($QBR_HOME/logs/dbt); here only with -v.
                    if log.isEnabledFor(logging.DEBUG):
                        self.say(f"        {event}")
                    self.reporter.build_node(outcome.done, outcome.total, *outcome.last)
                    if outcome.total:
                        self.runlog.progress(
                            self.percent(index, 0.95 * outcome.done / outcome.total)
                        )
            outcome.returncode = proc.wait()
        finally:
            self._stop_dbt()
        return outcome

    def _stop_dbt(self) -> None:
        proc, self.dbt_proc = self.dbt_proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def lock_timeout_ms(self) -> int:
        if self._lock_timeout_ms is None:
            row = self.conn.execute(
                "select setting::int from pg_settings where name = 'deadlock_timeout'"
            ).fetchone()
            deadlock_ms = row[0] if row else 1000
            self._lock_timeout_ms = max(20, min(SWAP_LOCK_TIMEOUT_MS, deadlock_ms // 2))
        return self._lock_timeout_ms

    def _drop_schema(self, name: str, wait_s: float = DROP_MAX_WAIT_S) -> bool:
        """Drop a scratch schema, waiting (without blocking readers) for its users to finish."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with self.conn.transaction():
                    self.conn.execute(f"set local lock_timeout = '{self.lock_timeout_ms}ms'")
                    self.conn.execute(
                        sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name))
                    )
                return True
            except psycopg.errors.LockNotAvailable:
                if time.monotonic() >= deadline:
                    log.warning("could not drop %s: still in use", name)
                    return False
                time.sleep(0.2)

    def _swap(self) -> dict[str, Any]:
        conn = self.conn
        layers = [
            s for s in LAYER_SCHEMAS if self.layered and _schema_exists(conn, s + BUILD_SUFFIX)
        ]
        if not _schema_exists(conn, BUILD_SCHEMA):
            msg = (
                f"dbt created no {BUILD_SCHEMA} schema (the project ignores the marts_suffix "
                "var): the marts were built in place, without the atomic swap"
            )
            self.say("        warning: " + msg)
            return {"swap": "in_place", "warning": msg}
        try:
            still_ours = _run_lock_held(conn, mine=True)
        except psycopg.Error:
            still_ours = False
        if not still_ours:
            raise StepError("lost the refresh lock (database connection dropped): not swapping")
        for schema in (MARTS_SCHEMA, *layers):
            if not self._drop_schema(schema + OLD_SUFFIX):
                raise StepError(
                    f"{schema + OLD_SUFFIX} from an earlier swap is still in use: not swapping"
                )
        removed = sorted(_relations(conn, MARTS_SCHEMA) - _relations(conn, BUILD_SCHEMA))
        deadline = time.monotonic() + SWAP_MAX_WAIT_S
        attempts = 0
        while True:
            attempts += 1
            try:
                with conn.transaction():
                    conn.execute(f"set local lock_timeout = '{self.lock_timeout_ms}ms'")
                    # Odd attempts take every lock at once or none (never wait holding
                    # some); even ones queue for them, so busy marts cannot starve us.
                    granted = self._swap_once(nowait=attempts % 2 == 1, layers=layers)
                break
            except psycopg.errors.LockNotAvailable:
                if time.monotonic() >= deadline:
                    raise StepError(
                        f"could not swap {BUILD_SCHEMA} into {MARTS_SCHEMA} within "
                        f"{SWAP_MAX_WAIT_S}s: readers kept the marts busy; previous marts kept"
                    ) from None
                time.sleep(min(1.0, 0.02 * attempts) * random.uniform(0.5, 1.5))
        dropped = all([self._drop_schema(s + OLD_SUFFIX) for s in (MARTS_SCHEMA, *layers)])
        log.debug("swapped %s -> %s", BUILD_SCHEMA, MARTS_SCHEMA)
        details: dict[str, Any] = {"swap": "swapped", "swap_attempts": attempts}
        if layers:
            details["layers_swapped"] = layers
        details["api_grants"] = granted
        if removed:
            details["relations_removed"] = removed
        if not dropped:
            details["warning"] = "a previous schema (*__old) is still in use; dropped next time"
        return details

    def _swap_once(self, nowait: bool = False, layers: list[str] | tuple[str, ...] = ()) -> bool:
        """Inside the swap transaction: lock the old marts, rename twice per schema, grant."""
        conn = self.conn
        for schema in layers:  # staging, intermediate, seeds: read by dbt and analysts only
            if _schema_exists(conn, schema):
                conn.execute(
                    sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(schema), sql.Identifier(schema + OLD_SUFFIX)
                    )
                )
            conn.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(schema + BUILD_SUFFIX), sql.Identifier(schema)
                )
            )
        if _schema_exists(conn, MARTS_SCHEMA):
            # Tables and views: a reader that looked up an old relation before the rename
            # waits for this lock, then looks the name up again and gets the new one, so
            # no statement mixes old and new marts. Locking a view also locks what it
            # reads (e.g. qbr_app.manual_metrics) for these few milliseconds. Views first:
            # readers mostly enter through them, so we queue where they queue.
            relations = sorted(_relations(conn, MARTS_SCHEMA, "v"))
            relations += sorted(_relations(conn, MARTS_SCHEMA, "rpm"))
            if relations:
                conn.execute(
                    sql.SQL("lock table {} in access exclusive mode{}").format(
                        sql.SQL(", ").join(sql.Identifier(MARTS_SCHEMA, r) for r in relations),
                        sql.SQL(" nowait" if nowait else ""),
                    )
                )
            conn.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(MARTS_SCHEMA), sql.Identifier(OLD_SCHEMA)
                )
            )
        conn.execute(
            sql.SQL("alter schema {} rename to {}").format(
                sql.Identifier(BUILD_SCHEMA), sql.Identifier(MARTS_SCHEMA)
            )
        )
        return _grant_read(conn)

    # -- the end ------------------------------------------------------------------------------

    def _anomalies(self) -> list[dict[str, Any]]:
        """dbt's data_quality_flags (the one implementation), each marked new/carried/ack'd."""
        try:
            from qbr import flags

            with db.connect(self.settings, autocommit=True) as conn:
                return flags.record(conn, self.batch_id)
        except Exception as exc:  # flags are warnings: never fail a run over them
            log.warning("anomaly checks failed", exc_info=True)
            return [
                {
                    "flag": "anomaly_check_failed",
                    "severity": "warning",
                    "message": f"anomaly checks did not run: {str(exc).splitlines()[0]}",
                }
            ]

    def _finish(self) -> Run:
        build_ok = all(s.status == "succeeded" for s in self.steps if s.kind == "build")
        sources_ok = all(s.status == "succeeded" for s in self.steps if s.kind == "source")
        status = "succeeded" if build_ok and sources_ok else ("partial" if build_ok else "failed")
        error = (
            "; ".join(f"{s.name}: {s.error.splitlines()[0]}" for s in self.steps if s.error) or None
        )
        flags = self._anomalies()
        if not self.runlog.finish(status, error, flags):
            log.warning("refresh %s was marked failed by another process meanwhile", self.batch_id)
        elapsed = time.monotonic() - self.started
        self.reporter.summary(self.batch_id, status, elapsed, self.steps)
        failed_sources = [s.name for s in self.steps if s.kind == "source" and s.error]
        if failed_sources:
            good = last_good_load(self.settings)
            for name in failed_sources:
                when = good.get(name)
                as_of = _local(self.settings, when) if when else "never loaded successfully"
                self.say(f"  {name} failed: its metrics are as of its last good load ({as_of})")
        if status == "failed":
            self.say(f"  the build failed: readers keep the previous {MARTS_SCHEMA} marts")
        counted = {"new": 0, "carried": 0, "acknowledged": 0}
        for flag in flags:
            counted[flag.get("state", "new")] = counted.get(flag.get("state", "new"), 0) + 1
        if counted["new"] or counted["carried"]:
            self.say(
                f"  {counted['new']} new anomaly flag(s), {counted['carried']} carried over"
                f" ({counted['acknowledged']} acknowledged): `qbr runs {self.batch_id}`"
            )
        return Run(self.batch_id, status, self.steps, error, flags)

    def _interrupted(self, exc: BaseException) -> None:
        reason = "interrupted (SIGTERM)" if isinstance(exc, RefreshInterrupted) else "interrupted"
        self._stop_dbt()
        for step in self.steps:
            if step.status == "running":
                step.status, step.error = "failed", reason
            elif step.status == "queued":
                step.status = "skipped"
            else:
                continue
            try:
                self.runlog.step_finished(step)
            except Exception:
                log.debug("could not record step %s", step.name, exc_info=True)
        try:
            self._drop_build_schemas(wait_s=5)
            self.runlog.finish("failed", reason, [])
        except Exception:
            log.debug("could not record the interruption", exc_info=True)
        self.say(f"refresh {self.batch_id} failed: {reason}")


def _local(settings: Settings, when: datetime) -> str:
    from zoneinfo import ZoneInfo

    return when.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M %Z")


# --- starting runs ----------------------------------------------------------------------------

TRIGGERS = ("cli", "api", "schedule", "demo", "test")


def _plan(names: list[str]) -> list[Step]:
    return [Step(n, "source") for n in names] + [Step("dbt_build", "build")]


def _options(
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


def _insert_run(
    conn: psycopg.Connection,
    batch_id: str,
    status: str,
    trigger: str,
    requested_by: str | None,
    options: dict[str, Any],
    steps: list[Step],
) -> None:
    if trigger not in TRIGGERS:
        raise RefreshOptionsError(f"Unknown trigger {trigger!r} (one of {', '.join(TRIGGERS)}).")
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


def _claim(
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
        _take_trigger_lock(conn)
        got = conn.execute(
            "select pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, RUN_LOCK)
        ).fetchone()[0]
        _, busy = _reconcile(conn, lock_is_ours=got, keep=batch_id)
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
            batch_id = new_batch_id()
            steps = _plan(names)
            _insert_run(conn, batch_id, "running", trigger, requested_by, options, steps)
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


class _SigtermAsInterrupt:
    """SIGTERM raises RefreshInterrupted in the main thread, so the run is recorded."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise RefreshInterrupted()

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _reporter(echo: bool) -> progress.Reporter:
    """Live progress on stdout for a person (or a log file), else lines to the logger."""
    return progress.Reporter() if echo else progress.LogReporter(log)


def run_refresh(
    settings: Settings,
    *,
    sources: list[str] | None = None,
    since: str | None = None,
    full: bool = False,
    trigger: str = "cli",
    echo: bool = True,
    batch_id: str | None = None,
    requested_by: str | None = None,
    project_dir: Path | str | None = None,
    dbt_vars: dict[str, Any] | None = None,
) -> Run:
    """Run a refresh in this process and return its outcome.

    `sources=None` means every configured source (an explicit list, even empty,
    is taken as given). `batch_id` picks up a run queued by `start_background`
    (its options come from the row). `project_dir` / `dbt_vars` select another
    dbt project and add build vars (tests). Raises RefreshBusy when another
    refresh is queued or running, RefreshInterrupted on SIGTERM (recorded first).
    """
    _check_since(since)
    prepare_quietly(settings)
    reporter = _reporter(echo)
    names = [] if batch_id else _resolve_sources(settings, sources)
    options = _options(names, since, full, project_dir, dbt_vars)
    conn = db.connect(settings, autocommit=True)
    try:
        conn.execute("set application_name = 'qbr refresh'")
        batch_id, steps, options = _claim(
            conn,
            batch_id=batch_id,
            names=names,
            options=options,
            trigger=trigger,
            requested_by=requested_by,
        )
        with _SigtermAsInterrupt():
            return _Refresh(settings, conn, batch_id, steps, options, reporter).execute()
    finally:
        conn.close()  # releases the run lock


# --- background runs (the API) ----------------------------------------------------------------

_children: list[subprocess.Popen] = []


def _child_env(settings: Settings) -> dict[str, str]:
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


def _spawn(settings: Settings, batch_id: str, log_path: Path) -> subprocess.Popen:
    global _children
    _children = [p for p in _children if p.poll() is None]  # reap finished ones
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qbr.refresh", "--batch-id", batch_id],
            cwd=PROJECT_ROOT,
            env=_child_env(settings),
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

    The web process never runs the refresh itself: `python -m qbr.refresh
    --batch-id <id>` picks the queued row up. Raises RefreshBusy (API: 409) when
    a refresh is queued or running, RefreshOptionsError (a ValueError; API: 400)
    for bad sources / since. Two concurrent calls produce exactly one run.
    """
    _check_since(since)
    names = _resolve_sources(settings, sources)
    batch_id = new_batch_id()
    options = _options(names, since, full, project_dir, dbt_vars)
    log_path = settings.home / "logs" / f"refresh-{batch_id}.log"
    options["log_file"] = str(log_path)
    with db.connect(settings, autocommit=True) as conn, conn.transaction():
        _take_trigger_lock(conn)
        _, busy = _reconcile(conn, lock_is_ours=False)
        if busy is None:
            _insert_run(conn, batch_id, "queued", trigger, requested_by, options, _plan(names))
            # Spawned inside the transaction: the child waits on the trigger lock until
            # the row is committed; if this transaction fails the child finds no row.
            proc = _spawn(settings, batch_id, log_path)
            conn.execute(
                "update qbr_app.refresh_runs set pid = %s where batch_id = %s",
                (proc.pid, batch_id),
            )
    if busy is not None:
        raise RefreshBusy(*busy)
    log.info("refresh %s queued (pid %s, log %s)", batch_id, proc.pid, log_path)
    return batch_id


def main(argv: list[str] | None = None) -> int:
    """`python -m qbr.refresh --batch-id <id>`: run a refresh queued by start_background."""
    parser = argparse.ArgumentParser(prog="python -m qbr.refresh")
    parser.add_argument("--batch-id", required=True)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from qbr.settings import get_settings

    try:
        run = run_refresh(get_settings(), batch_id=args.batch_id)
    except RefreshBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except QbrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return exit_code(run.status)


if __name__ == "__main__":
    from qbr.refresh import main as _main  # the package's copy of this module, not __main__

    sys.exit(_main())
