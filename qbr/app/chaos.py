"""`make chaos`: a fault suite you can run (bounded in count and time, loopback only).

    python -m qbr.app.chaos [--seed N] [--budget SECONDS] [--max-trials N] [--kills N]
                        [--only fault,kill,db-restart,import] [--quick]
                        [--corpus DIR] [--home DIR] [--keep]

Everything runs on this machine's loopback: a PostgreSQL cluster of its own
(`<home>/pgdata`, default `.qbr/chaos/`, on a free port, so the demo's and the
tests' data are never touched), the sandbox in this process on free ports,
refreshes in child processes. Trials:

- **fault**: every sandbox fault kind against every source (ConnectWise,
  QuickBooks, NinjaOne; the token-endpoint kinds only where there is one),
  loaded in this process; then a clean load;
- **kill**: a background refresh (the API's way) SIGKILLed at a random point
  of each phase (each source, the dbt build; `--kills` points per phase),
  then a clean refresh;
- **db-restart**: the database restarted in the middle of a refresh;
- **import**: every file of the bad Desktop corpus (`tests/fixtures/bad_files/
  desktop/`, each with a `<file>.expected` substring the refusal must contain)
  refused by `qbr import quickbooks-pl`, then through the drop folder together
  with a good file, which must still import.

After each trial: raw rows equal the sandbox's records (nothing lost, nothing
duplicated), the run log is true (nothing queued or running once its process
is gone; a killed run reads failed), no pending dlt load package, no refresh
lock held, no half-built marts schema, and after each refresh the marts are
complete (every mart there, row counts as after the baseline build).

Randomness (kill points, trial order) comes from `--seed` (printed; rerun with
it to replay). Prints one row per trial and a summary; exits 1 when any check
failed. `--quick` is the short version `make test` runs (a few trials).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from qbr.settings import PROJECT_ROOT, Settings
from sandbox.msp import CONNECTWISE_LISTS

#: the sandbox's "today": fixed, so every run (and every seed) sees the same books
TODAY = date(2026, 10, 15)
HISTORY_START = "2025-01"
DEFAULT_HOME = PROJECT_ROOT / ".qbr" / "chaos"
DEFAULT_CORPUS = PROJECT_ROOT / "tests" / "fixtures" / "bad_files" / "desktop"
GOOD_DESKTOP_FILE = PROJECT_ROOT / "dlt_pipelines" / "examples" / "profit_and_loss_by_month.csv"
DB_NAME = "qbr_chaos"

#: quick retries: a fault fires once or twice, Retry-After is 1 s
FAST_HTTP = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "4",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.02",
    "RUNTIME__REQUEST_MAX_RETRY_DELAY": "2",
    "RUNTIME__REQUEST_TIMEOUT": "3",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "ERROR",
}

#: raw table -> the sandbox's record list, per dataset
RAW = {
    "connectwise": (
        "raw_connectwise",
        CONNECTWISE_LISTS,
    ),
    "quickbooks": (
        "raw_quickbooks",
        {
            "accounts": "qbo_accounts",
            "customers": "qbo_customers",
            "items": "qbo_items",
            "invoices": "qbo_invoices",
            "payments": "qbo_payments",
            "credit_memos": "qbo_credit_memos",
        },
    ),
    "ninjaone": (
        "raw_ninjaone",
        {
            "organizations": "ninja_organizations",
            "locations": "ninja_locations",
            "devices": "ninja_devices",
        },
    ),
}
SOURCES = tuple(RAW)
#: the sources a refresh loads in the kill / restart trials (NinjaOne is optional)
REFRESH_SOURCES = ["connectwise", "quickbooks"]
#: marts whose row count is fixed by the calendar and the catalogue (not by single
#: records, which the trials delete): "complete" = the same counts as the baseline
MARTS = (
    "periods",
    "metric_definitions",
    "metrics_monthly",
    "metrics_quarterly",
    "smartnumbers",
    "clients",
)
#: fault kind -> (options, path scope per source, what the load should do)
FAULTS: dict[str, dict[str, Any]] = {
    "rate_limit": {"options": {"count": 2, "retry_after": 1}, "expect": "loads"},
    "server_error": {"options": {"count": 2}, "expect": "loads"},
    "slow": {"options": {"count": 1, "seconds": 1.0}, "expect": "loads"},
    "drop_connection": {"options": {"page": 1, "mode": "mid_response"}, "expect": "loads"},
    # ConnectWise has no token to renew: an expired session fails the step (data kept)
    "expired_token": {"options": {"count": 1}, "expect": {"connectwise": "fails"}},
    "malformed_record": {"options": {"count": 1}, "expect": "loads"},
    "down": {"options": {"mode": "503"}, "expect": "fails"},
    # the QuickBooks token endpoint only: rotated, answered after the client timeout
    "slow_token": {"options": {"seconds": 4.5}, "expect": "reauthorize", "only": "quickbooks"},
    # ... and the same late answer from a lenient provider: recovered, nothing lost
    "lenient_tokens": {"options": {"grace": 60}, "expect": "loads", "only": "quickbooks"},
}
#: the kinds of trial after the baseline (`--only` picks some)
TRIAL_KINDS = ("fault", "kill", "db-restart", "import")
#: listings a fault is scoped to (so it hits a data request, not only the token one)
LISTING = {"connectwise": "service/tickets", "quickbooks": "/query", "ninjaone": "devices"}


@dataclass
class Trial:
    kind: str
    target: str
    action: str
    outcome: str = ""
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lost: int = 0
    duplicated: int = 0
    stuck_runs: int = 0
    blocked_imports: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Chaos:
    def __init__(
        self,
        *,
        home: Path = DEFAULT_HOME,
        seed: int | None = None,
        budget_s: float = 900.0,
        max_trials: int = 200,
        quick: bool = False,
        corpus: Path = DEFAULT_CORPUS,
        keep: bool = False,
        kills_per_phase: int = 2,
        only: tuple[str, ...] = TRIAL_KINDS,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.only = tuple(only)
        self.kills_per_phase = max(1, kills_per_phase)
        self.home = Path(home).resolve()
        self.seed = seed if seed is not None else random.SystemRandom().randrange(1, 10**6)
        self.rng = random.Random(self.seed)
        self.budget_s = budget_s
        self.max_trials = max_trials
        self.quick = quick
        self.corpus = Path(corpus)
        self.keep = keep
        self.echo = echo
        self.trials: list[Trial] = []
        self.skipped: list[str] = []
        self.started = time.monotonic()
        self.baseline_marts: dict[str, int] = {}
        self.step_seconds: dict[str, float] = {}
        self.settings: Settings | None = None
        self.sandbox: Any = None
        self._env_before: dict[str, str | None] = {}

    # --- environment -------------------------------------------------------------------
    def _setenv(self, key: str, value: str) -> None:
        self._env_before.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def setup(self) -> None:
        from qbr import db, inventory
        from sandbox.msp import generate
        from sandbox.servers.runner import Sandbox, write_state_file

        if self.home.exists():
            self._stop_leftover_server()
            shutil.rmtree(self.home)
        self.home.mkdir(parents=True)
        self.settings = Settings(
            _env_file=None,
            home=self.home,
            pg_port=free_port(),
            db_name=DB_NAME,
            history_start=HISTORY_START,
        )
        db.prepare(self.settings)
        msp = generate("small", seed=42, today=TODAY)
        self.sandbox = Sandbox(msp, host="127.0.0.1").start()
        write_state_file(self.home / "sandbox.json", self.sandbox.describe())
        inventory.write_inventory(self.settings.url, self.settings.inventory_schema, msp)
        # this process and the refreshes it starts (they inherit the environment)
        for key, value in {
            **FAST_HTTP,
            **{f"QBR_{k.upper()}": str(v) for k, v in self._settings_env().items()},
            "QBR_ENV_FILE": os.devnull,
            "DBT_TARGET_PATH": str(self.home / "dbt_target"),
            "SOURCES__NINJAONE__BASE_URL": self.sandbox.urls["ninjaone"],
            **{
                f"SOURCES__NINJAONE__{k.upper()}": v
                for k, v in self.sandbox.credentials["ninjaone"].items()
            },
        }.items():
            self._setenv(key, value)

    def _settings_env(self) -> dict[str, Any]:
        assert self.settings is not None
        return {
            "home": self.home,
            "pg_port": self.settings.pg_port,
            "db_name": DB_NAME,
            "history_start": HISTORY_START,
            "sources": ",".join(REFRESH_SOURCES),
        }

    def _stop_leftover_server(self) -> None:
        from qbr import embedded

        pid_file = self.home / "pgdata" / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(Exception):
                port = int(pid_file.read_text().splitlines()[3])
                embedded.stop(Settings(_env_file=None, home=self.home, pg_port=port))

    def teardown(self) -> None:
        from qbr import embedded

        if self.sandbox is not None:
            self.sandbox.stop()
        for key, value in self._env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self.settings is not None:
            embedded.stop(self.settings)
            if not self.keep:
                shutil.rmtree(self.home, ignore_errors=True)

    # --- helpers -----------------------------------------------------------------------
    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        assert self.settings is not None
        with psycopg.connect(self.settings.url, connect_timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def out_of_budget(self) -> bool:
        over_time = time.monotonic() - self.started > self.budget_s
        return over_time or len(self.trials) >= self.max_trials

    def load(self, source: str, full: bool = False) -> tuple[bool, str]:
        """One source step in this process: (succeeded, message)."""
        from qbr.app import sources

        assert self.settings is not None
        try:
            rows, _ = sources.load(self.settings, source, full=full)
        except Exception as exc:  # noqa: BLE001 - the outcome is what is checked
            return False, str(exc).splitlines()[0]
        return True, f"{rows} rows"

    def refresh(self, sources: list[str] | None = None, full: bool = False) -> dict[str, Any]:
        """A refresh in a child process, the API's way; waits for it; returns its run row."""
        from qbr.app import refresh

        assert self.settings is not None
        batch_id = refresh.start_background(
            self.settings, sources=sources or REFRESH_SOURCES, full=full, trigger="test"
        )
        proc = self._child(batch_id)
        proc.wait(timeout=600)
        return self.run_row(batch_id)

    def _child(self, batch_id: str) -> Any:
        from qbr.refresh import queue

        pid = self.query("select pid from qbr_app.refresh_runs where batch_id = %s", (batch_id,))
        return next(p for p in queue._children if p.pid == pid[0][0])

    def run_row(self, batch_id: str) -> dict[str, Any]:
        from qbr.app import refresh

        assert self.settings is not None
        refresh.reconcile_on_read(self.settings)
        status, error = self.query(
            "select status, error from qbr_app.refresh_runs where batch_id = %s", (batch_id,)
        )[0]
        steps = dict(
            self.query(
                "select name, status from qbr_app.refresh_steps where batch_id = %s", (batch_id,)
            )
        )
        return {"batch_id": batch_id, "status": status, "error": error, "steps": steps}

    # --- checks ------------------------------------------------------------------------
    def check(self, trial: Trial, sources: tuple[str, ...], marts: bool) -> None:
        """The invariants after a trial (its recovery included)."""
        from qbr.app import refresh

        assert self.settings is not None
        for source in sources:
            schema, tables = RAW[source]
            for table, attr in tables.items():
                expected = {str(r["id" if source == "ninjaone" else self._id_key(source)])
                            for r in getattr(self.sandbox.msp, attr)}  # fmt: skip
                try:
                    rows = self.query(
                        f"select id::text, count(*) over (partition by id) from {schema}.{table} "
                        "where _deleted_at is null"
                    )
                except psycopg.errors.UndefinedTable:
                    rows = []
                live = {r[0] for r in rows}
                dupes = sum(1 for r in rows if r[1] > 1)
                lost = expected - live
                extra = live - expected
                if lost or extra or dupes:
                    trial.lost += len(lost)
                    trial.duplicated += dupes + len(extra)
                    trial.problems.append(
                        f"{schema}.{table}: {len(lost)} lost, {dupes} duplicated, "
                        f"{len(extra)} not at the source"
                    )
        refresh.reconcile_on_read(self.settings)
        stuck = self.query(
            "select batch_id, status from qbr_app.refresh_runs where status in ('queued', 'running')"
        )
        if stuck:
            trial.stuck_runs += len(stuck)
            trial.problems.append(f"runs left {', '.join(f'{b} {s}' for b, s in stuck)}")
        held = self.query(
            "select count(*) from pg_locks where locktype = 'advisory' and granted "
            "and classid::bigint = %s and objid::bigint = %s",
            (refresh.LOCK_NAMESPACE, refresh.RUN_LOCK),
        )[0][0]
        if held:
            trial.problems.append("the refresh lock is still held")
        pending = self.pending_packages()
        if pending:
            trial.problems.append(f"pending load packages: {pending}")
        if marts:
            self.check_marts(trial)

    def _id_key(self, source: str) -> str:
        return "Id" if source == "quickbooks" else "id"

    def pending_packages(self) -> dict[str, int]:
        import dlt

        from dlt_pipelines.runner import pipelines_dir

        assert self.settings is not None
        root = Path(pipelines_dir(self.settings))
        out: dict[str, int] = {}
        for folder in sorted(root.iterdir()) if root.exists() else []:
            if not folder.is_dir():
                continue
            try:
                pipeline = dlt.attach(folder.name, pipelines_dir=str(root))
            except Exception:  # noqa: BLE001 - not a pipeline folder
                continue
            count = len(pipeline.list_extracted_load_packages()) + len(
                pipeline.list_normalized_load_packages()
            )
            if count:
                out[folder.name] = count
        return out

    def mart_counts(self) -> dict[str, int]:
        return {m: self.query(f"select count(*) from qbr.{m}")[0][0] for m in MARTS}

    def check_marts(self, trial: Trial) -> None:
        leftover = self.query(
            "select nspname from pg_namespace where nspname in ('qbr__build', 'qbr__old')"
        )
        if leftover:
            trial.problems.append(f"half-built marts left: {[r[0] for r in leftover]}")
        try:
            counts = self.mart_counts()
        except psycopg.Error as exc:
            trial.problems.append(f"marts unreadable: {type(exc).__name__}")
            return
        if counts != self.baseline_marts:
            diff = {
                k: (self.baseline_marts.get(k), v)
                for k, v in counts.items()
                if v != self.baseline_marts.get(k)
            }
            trial.problems.append(f"marts differ from the baseline: {diff}")

    # --- trials ------------------------------------------------------------------------
    @contextlib.contextmanager
    def trial(self, kind: str, target: str, action: str) -> Iterator[Trial]:
        trial = Trial(kind, target, action)
        began = time.monotonic()
        try:
            yield trial
        except Exception as exc:  # noqa: BLE001 - a harness error is a failed trial
            trial.problems.append(f"harness: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            assert self.sandbox is not None
            self.sandbox.clear_faults()
            trial.seconds = round(time.monotonic() - began, 1)
            self.trials.append(trial)
            mark = "ok " if trial.ok else "BAD"
            self.echo(f"  [{mark}] {kind:<10} {target:<12} {action:<28} {trial.outcome[:200]}")
            for problem in trial.problems:
                self.echo(f"         - {problem}")

    def baseline(self) -> None:
        with self.trial("baseline", "all", "first refresh") as t:
            # NinjaOne first: it writes today's inventory snapshot, which the build reads
            ok, message = self.load("ninjaone")
            if not ok:
                raise RuntimeError(f"the baseline NinjaOne load failed: {message}")
            run = self.refresh()
            t.outcome = run["status"]
            if run["status"] != "succeeded":
                raise RuntimeError(f"the baseline refresh did not succeed: {run['error']}")
            self.baseline_marts = self.mart_counts()
            durations = self.query(
                "select name, duration_ms from qbr_app.refresh_steps where batch_id = %s",
                (run["batch_id"],),
            )
            self.step_seconds = {n: (ms or 1000) / 1000 for n, ms in durations}
            self.check(t, SOURCES, marts=True)

    def fault_trials(self) -> None:
        plan = [
            (source, kind)
            for source in SOURCES
            for kind in FAULTS
            if FAULTS[kind].get("only", source) == source
        ]
        if self.quick:
            plan = [(s, k) for s, k in plan if (s, k) in QUICK_FAULTS]
        self.rng.shuffle(plan)
        for source, kind in plan:
            if self.out_of_budget():
                self.skipped.append(f"fault {kind} on {source}")
                continue
            spec = FAULTS[kind]
            with self.trial("fault", source, kind) as t:
                self._fault_trial(t, source, kind, spec)

    def _fault_trial(self, t: Trial, source: str, kind: str, spec: dict[str, Any]) -> None:
        assert self.sandbox is not None
        options = dict(spec["options"])
        if kind not in ("slow_token", "lenient_tokens"):
            options["path"] = LISTING[source]
        self.sandbox.fault(source, kind, **options)
        if kind == "lenient_tokens":
            self.sandbox.fault(source, "slow_token", **FAULTS["slow_token"]["options"])
        ok, message = self.load(source)
        fired = {h["kind"] for h in self.sandbox.faults(source).history}
        if kind not in fired:
            t.problems.append(f"the {kind} fault never fired (nothing was tested)")
        self.sandbox.faults(source).history.clear()
        expect = spec["expect"]
        if isinstance(expect, dict):
            expect = expect.get(source, "loads")
        t.outcome = ("loaded " if ok else "failed: ") + message
        if expect == "loads" and not ok:
            t.problems.append(f"expected the load to complete under {kind}")
        if expect in ("fails", "reauthorize") and ok:
            t.problems.append(f"expected the load to fail under {kind}")
        if (
            expect == "reauthorize"
            and not ok
            and not ("rotated" in message and "re-authorize" in message)
        ):
            t.problems.append("the failure does not say the token was lost: re-authorize")
        self.sandbox.clear_faults()
        if expect == "reauthorize":
            self._reauthorize()
        # recovery: a clean load (a full one where a phantom may have landed)
        ok, message = self.load(source, full=kind == "malformed_record")
        if not ok:
            t.problems.append(f"the clean load after the fault failed: {message}")
        self.check(t, (source,), marts=False)

    def _reauthorize(self) -> None:
        """What the operator does after a lost rotation: a new token from Intuit,
        configured for the warehouse (here: issued by the sandbox, put in sandbox.json)."""
        from sandbox.servers.runner import write_state_file

        assert self.sandbox is not None
        tokens = self.sandbox.qbo_tokens
        issued = tokens.refresh(tokens.latest_refresh_token)
        assert issued is not None
        fresh = issued["refresh_token"]
        state = self.sandbox.describe()
        state["credentials"]["quickbooks"]["refresh_token"] = fresh
        write_state_file(self.home / "sandbox.json", state)

    def kill_trials(self) -> None:
        phases = [*REFRESH_SOURCES, "dbt_build"] * self.kills_per_phase
        if self.quick:
            phases = [self.rng.choice(REFRESH_SOURCES)]
        for phase in phases:
            if self.out_of_budget():
                self.skipped.append(f"kill during {phase}")
                continue
            with self.trial("kill", phase, "SIGKILL mid-phase") as t:
                self._kill_trial(t, phase)

    def _wait_for_step(self, batch_id: str, step: str, proc: Any, timeout: float = 300) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            rows = self.query(
                "select status from qbr_app.refresh_steps where batch_id = %s and name = %s",
                (batch_id, step),
            )
            if rows and rows[0][0] == "running":
                return True
            time.sleep(0.05)
        return False

    def delete_at_source(self) -> list[str]:
        """Delete one record per refreshed source in the sandbox's books (an invoice,
        a ticket), as the MSP would: the refresh under attack must mark them."""
        assert self.sandbox is not None
        msp, state = self.sandbox.msp, self.sandbox.state
        gone = []
        with state.lock:
            for attr, key in (("qbo_invoices", "Id"), ("cw_tickets", "id")):
                records = getattr(msp, attr)
                if len(records) < 2:
                    continue
                record = records.pop(self.rng.randrange(len(records)))
                msp.deleted.setdefault(attr, set()).add(record[key])
                msp.deleted_at.setdefault(attr, {})[record[key]] = state.now()
                gone.append(f"{attr}:{record[key]}")
            state.version += 1
        return gone

    def _kill_trial(self, t: Trial, phase: str) -> None:
        from qbr.app import refresh

        assert self.settings is not None
        self.delete_at_source()  # deletions the killed run may find, and must not lose
        # full: every phase as long as the baseline's (the first load reads everything),
        # whose step durations scale the random kill point
        batch_id = refresh.start_background(
            self.settings, sources=REFRESH_SOURCES, full=True, trigger="test"
        )
        proc = self._child(batch_id)
        if not self._wait_for_step(batch_id, phase, proc):
            t.problems.append(f"the refresh never reached {phase}")
            proc.wait(timeout=600)
            return
        delay = self.rng.uniform(0.05, 0.5 if self.quick else 0.9)
        delay *= self.step_seconds.get(phase, 2.0)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own session
            proc.wait(timeout=60)
            t.action = f"SIGKILL {delay:.1f}s into it"
        else:
            t.action = f"finished before {delay:.1f}s"
        killed = self.run_row(batch_id)
        read_true = killed["status"] == "failed" and "is gone" in (killed["error"] or "")
        if proc.returncode == -signal.SIGKILL and not read_true:
            t.problems.append(f"killed run reads {killed['status']}: {killed['error']}")
        if self.quick and phase != "dbt_build":
            # the short version: the next loads (they finish what the kill left pending);
            # the marts were not touched by a kill before the build, so they are checked as is
            results = [self.load(source) for source in REFRESH_SOURCES]
            t.outcome = f"killed run {killed['status']}; next loads " + (
                "ok" if all(ok for ok, _ in results) else "failed"
            )
            for ok, message in results:
                if not ok:
                    t.problems.append(f"a load after the kill failed: {message}")
        else:
            again = self.refresh()
            t.outcome = f"killed run {killed['status']}; next run {again['status']}"
            if again["status"] != "succeeded":
                t.problems.append(f"the refresh after the kill: {again['status']} {again['error']}")
        self.check(t, tuple(REFRESH_SOURCES), marts=True)

    def restart_trial(self) -> None:
        from qbr import embedded
        from qbr.app import refresh

        if self.out_of_budget():
            self.skipped.append("database restart")
            return
        assert self.settings is not None
        with self.trial("db-restart", "database", "stop + start mid-refresh") as t:
            phase = self.rng.choice(REFRESH_SOURCES)
            self.delete_at_source()
            batch_id = refresh.start_background(
                self.settings, sources=REFRESH_SOURCES, full=True, trigger="test"
            )
            proc = self._child(batch_id)
            if not self._wait_for_step(batch_id, phase, proc):
                t.problems.append(f"the refresh never reached {phase}")
            time.sleep(self.rng.uniform(0.05, 0.5) * self.step_seconds.get(phase, 2.0))
            embedded.stop(self.settings)
            embedded.start(self.settings)
            t.action = f"restart during {phase}"
            proc.wait(timeout=600)
            during = self.run_row(batch_id)
            again = self.refresh()
            t.outcome = f"that run {during['status']}; next run {again['status']}"
            if during["status"] in ("queued", "running"):
                t.problems.append("the interrupted run still reads as active")
            if again["status"] != "succeeded":
                t.problems.append(f"the refresh after the restart: {again['error']}")
            self.check(t, tuple(REFRESH_SOURCES), marts=True)

    def import_trials(self) -> None:
        files = corpus_files(self.corpus)
        if not files:
            with self.trial("import", "corpus", "bad Desktop files") as t:
                t.problems.append(f"the bad-file corpus {self.corpus} is empty or missing")
            return
        for path in files:
            if self.out_of_budget():
                self.skipped.append(f"import {path.name}")
                continue
            with self.trial("import", path.name[:12], "refused, then a good file") as t:
                self._import_trial(t, path)

    def _desktop_rows(self) -> int:
        try:
            return self.query(
                "select count(*) from raw_quickbooks.profit_and_loss where origin = 'desktop'"
            )[0][0]
        except psycopg.errors.UndefinedTable:
            return 0

    def _import_trial(self, t: Trial, path: Path) -> None:
        import subprocess

        from dlt_pipelines import quickbooks_desktop
        from dlt_pipelines.quickbooks_desktop.settings import (
            DESKTOP_DONE_FOLDER,
            DESKTOP_REFUSED_FOLDER,
        )

        assert self.settings is not None
        expected = (path.parent / (path.name + ".expected")).read_text().strip()
        before = self._desktop_rows()
        cli = [sys.executable, "-m", "qbr.app.cli", "import", "quickbooks-pl"]
        bad = subprocess.run(
            [*cli, str(path)], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT
        )
        said = (bad.stdout + bad.stderr).strip()
        if bad.returncode == 0:
            t.problems.append("the bad file was imported")
        elif expected.lower() not in said.lower():
            t.problems.append(f"refusal lacks {expected!r}: {said.splitlines()[-1:]}")
        if "Traceback" in said:
            t.problems.append("the refusal printed a traceback")
        if self._desktop_rows() != before:
            t.problems.append("the refused file wrote rows")
        good = subprocess.run(
            [*cli, str(GOOD_DESKTOP_FILE)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=PROJECT_ROOT,
        )
        after = self._desktop_rows()
        if good.returncode != 0 or after == 0:
            t.blocked_imports += 1
            t.problems.append(f"a good file after it did not import: {good.stdout.strip()[-200:]}")
        # the drop folder: the refused file is set aside, the one behind it imports
        folder = quickbooks_desktop.drop_folder(self.settings)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / ("0_" + path.name))
        picked = any(
            p.name == "0_" + path.name for p in quickbooks_desktop.pending_files(self.settings)
        )
        shutil.copy(GOOD_DESKTOP_FILE, folder / ("1_" + GOOD_DESKTOP_FILE.name))
        ok, message = self.load("quickbooks_desktop")
        # (a file the drop folder does not pick up at all, by its suffix, cannot block one)
        if picked and not _moved(folder / DESKTOP_REFUSED_FOLDER, "0_" + path.name):
            t.problems.append("the drop folder did not set the bad file aside in refused/")
        if not _moved(folder / DESKTOP_DONE_FOLDER, "1_" + GOOD_DESKTOP_FILE.name):
            t.blocked_imports += 1
            t.problems.append("the good file behind the bad one was not imported")
        t.outcome = f"cli exit {bad.returncode}; drop folder {'ok' if ok else 'refused one'}"
        shutil.rmtree(folder, ignore_errors=True)
        self.check(t, (), marts=False)

    # --- the run -----------------------------------------------------------------------
    def run(self) -> int:
        self.echo(f"chaos seed: {self.seed} (replay with --seed {self.seed})")
        self.echo(f"home: {self.home} (own PostgreSQL cluster and sandbox, loopback only)")
        try:
            self.setup()
            self.baseline()
            if self.trials[-1].ok:
                if "fault" in self.only:
                    self.fault_trials()
                if "kill" in self.only:
                    self.kill_trials()
                if "db-restart" in self.only and not self.quick:
                    self.restart_trial()
                if "import" in self.only:
                    self.import_trials()
        finally:
            self.teardown()
        self.echo("")
        self.echo(table(self.trials))
        summary = self.summary()
        self.echo("")
        self.echo(
            "summary: {trials} trials, {failed} failed; lost {lost}, duplicated {duplicated}, "
            "stuck runs {stuck_runs}, blocked imports {blocked_imports}; {seconds}s".format(
                **summary
            )
        )
        if self.skipped:
            self.echo(f"not run (budget): {', '.join(self.skipped)}")
        return 0 if summary["failed"] == 0 else 1

    def summary(self) -> dict[str, Any]:
        return {
            "trials": len(self.trials),
            "failed": sum(1 for t in self.trials if not t.ok),
            "lost": sum(t.lost for t in self.trials),
            "duplicated": sum(t.duplicated for t in self.trials),
            "stuck_runs": sum(t.stuck_runs for t in self.trials),
            "blocked_imports": sum(t.blocked_imports for t in self.trials),
            "seconds": round(time.monotonic() - self.started),
        }


#: the short version's fault trials (one per source, each kind of recovery)
QUICK_FAULTS = {
    ("connectwise", "drop_connection"),
    ("quickbooks", "slow_token"),
    ("ninjaone", "down"),
}


def _moved(folder: Path, name: str) -> bool:
    """A file named `name` (perhaps with a time-stamp prefix) was moved into `folder`."""
    return folder.is_dir() and any(p.name.endswith(name) for p in folder.iterdir())


def corpus_files(folder: Path) -> list[Path]:
    """The bad files of the corpus: every file with a sibling `<file>.expected`."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.endswith(".expected")
        and (p.parent / (p.name + ".expected")).exists()
    )


def table(trials: list[Trial]) -> str:
    head = ("#", "trial", "target", "action", "outcome", "lost", "dup", "stuck", "s", "result")
    rows = [
        (
            str(i),
            t.kind,
            t.target,
            t.action,
            t.outcome[:48],
            str(t.lost),
            str(t.duplicated),
            str(t.stuck_runs),
            f"{t.seconds:.0f}",
            "ok" if t.ok else "FAILED",
        )
        for i, t in enumerate(trials, 1)
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qbr.app.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, help="replay a run (default: a random seed)")
    parser.add_argument("--budget", type=float, default=900, help="seconds before no new trial")
    parser.add_argument("--max-trials", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="the short version (make test)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument("--keep", action="store_true", help="keep the chaos home afterwards")
    parser.add_argument("--kills", type=int, default=2, help="kill points per refresh phase")
    parser.add_argument(
        "--only",
        default=",".join(TRIAL_KINDS),
        help=f"comma list of trial kinds to run (after the baseline): {','.join(TRIAL_KINDS)}",
    )
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.ERROR)
    chaos = Chaos(
        home=args.home,
        seed=args.seed,
        budget_s=args.budget,
        max_trials=args.max_trials,
        quick=args.quick,
        corpus=args.corpus,
        keep=args.keep,
        kills_per_phase=args.kills,
        only=tuple(k.strip() for k in args.only.split(",") if k.strip()),
        echo=lambda line: print(line, flush=True),
    )
    return chaos.run()


if __name__ == "__main__":
    sys.exit(main())
