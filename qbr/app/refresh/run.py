"""Running one claimed refresh: every step in order, recorded as it goes.

Each source loads independently (one failing does not stop the others,
qbr.app.sources), side by side in threads of their own (`QBR_SOURCE_CONCURRENCY`;
the main thread waits, so SIGINT/SIGTERM reach it and stop them all through
dlt's signal flag); the dbt build runs after them (dbt.py) and a good build is
swapped in (swap.py). What the build does not need the sources for overlaps
them: the side schemas are dropped and dbt's own tables copied into new ones
(`_EarlyPrepare`) and the dbt child imports dbt and parses the project with
the build's vars (`DbtBuild.prestart`) while the sources load; the
fingerprint that may skip the build is computed while dbt starts
(`_Fingerprint`; a skip stops dbt). Outcome: every step good -> `succeeded`;
a source failed but the build went through -> `partial` (that source's
metrics are as of its last good load); the build failed -> `failed`, and
readers keep the previous marts.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from qbr import db, dbt_runner, progress, timings
from qbr.app import sources as source_registry
from qbr.app.refresh import flags
from qbr.app.refresh.dbt import DbtBuild, DbtOutcome, build_args
from qbr.app.refresh.errors import RefreshInterrupted, StepError
from qbr.app.refresh.swap import BUILD_SUFFIX, MARTS_SCHEMA, SchemaSwap, is_layered
from qbr.refresh import queue
from qbr.refresh.runlog import Run, RunLog, Step, last_good_load
from qbr.settings import Settings
from qbr.sources import get as registered_source

log = logging.getLogger("qbr.refresh")

#: Overlap the build step's independent parts with the sources and the fingerprint
#: (`_Refresh._start_early`, `_Fingerprint`). Off: every part in sequence, as before
#: (tests compare the two; a measurement's baseline).
PREPARE_DURING_SOURCES = True

#: How many sources load at once, each in a thread of its own (`QBR_SOURCE_CONCURRENCY`,
#: default all of them; 1: one after another, in the main thread, as before). Sources
#: landing in the same raw schema (QuickBooks Online and the Desktop import) always load
#: one after the other, in one lane (`_lanes`).
SOURCE_CONCURRENCY_ENV = "QBR_SOURCE_CONCURRENCY"
DEFAULT_SOURCE_CONCURRENCY = 8
#: An interrupt waits this long for the sources loading in their threads to stop (dlt
#: checks between items; a request in flight finishes first). Past it the run is
#: recorded and the process exits: what those threads extracted is not loaded (a
#: pending load package is finished by the next run, as after a kill).
LANE_STOP_TIMEOUT_S = 10.0


def source_concurrency() -> int:
    """`QBR_SOURCE_CONCURRENCY` as a whole number >= 1 (a bad value: one at a time, said)."""
    raw = os.environ.get(SOURCE_CONCURRENCY_ENV, "").strip()
    if not raw:
        return DEFAULT_SOURCE_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        log.warning("%s=%r is not a whole number >= 1: sources load one at a time",
                    SOURCE_CONCURRENCY_ENV, raw)  # fmt: skip
        return 1
    return value


def _lanes(sources: list[tuple[int, Step]]) -> list[list[tuple[int, Step]]]:
    """The source steps grouped by the raw schema they land in (qbr.sources), in refresh
    order: two pipelines never write one schema (its dlt tables, deletions) at once."""
    lanes: dict[str, list[tuple[int, Step]]] = {}
    for index, step in sources:
        entry = registered_source(step.name)
        schema = entry.raw_dataset if entry is not None else f"raw_{step.name}"
        lanes.setdefault(schema, []).append((index, step))
    return list(lanes.values())


def prepare_quietly(settings: Settings) -> None:
    """db.prepare (server, database, migrations) without alembic's INFO chatter."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(level, logging.WARNING))
    try:
        db.prepare(settings)
    finally:
        alembic_log.setLevel(level)


def _load_source(
    settings: Settings, name: str, full: bool, since: str | None = None
) -> tuple[int, dict]:
    """Load one source through the registry (qbr.app.sources); one-line exception on failure."""
    return source_registry.load(settings, name, full=full, since=since)


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
        self.layered = is_layered(self.project_dir)
        self.schemas = SchemaSwap(conn, self.layered, self.say)
        self.dbt = DbtBuild(settings, self.project_dir, conn.info.server_version)
        try:  # the rules part of the build's fingerprint: known before any source runs
            self.rules: dict[str, str] | None = dbt_runner.build_rules(
                settings, self.project_dir, self.dbt_vars
            )
        except OSError:
            self.rules = None  # decide_build reads the project itself (and fails the same)
        self._early: _EarlyPrepare | None = None
        self._fingerprinting: _Fingerprint | None = None
        # sources loading side by side (`_run_sources_side_by_side`)
        self._record_lock = threading.RLock()  # a step's status and its run-log row
        self._stopping = threading.Event()
        self._lane_threads: list[threading.Thread] = []
        self._lanes_done = threading.Event()
        self._interrupt_reason: str | None = None
        self._abandoned: set[str] = set()  # steps `_interrupted` recorded for their thread
        self._steps_done = 0
        self.started = time.monotonic()

    def percent(self, index: int, within: float = 0.0) -> float:
        return 100.0 * (index + within) / len(self.steps)

    # -- steps --------------------------------------------------------------------------------

    def execute(self) -> Run:
        names = [s.name for s in self.steps if s.kind == "source"]
        self.say(f"refresh {self.batch_id}: {', '.join(names) or 'no sources'}, then dbt build")
        try:
            self._early = self._start_early()
            if PREPARE_DURING_SOURCES and any(s.kind == "build" for s in self.steps):
                try:
                    # dbt imports itself and parses the project while the sources load
                    self.dbt.prestart(self._build_vars())
                except OSError:  # the build starts it (and says why it cannot)
                    log.debug("could not start dbt ahead", exc_info=True)
            sources = [(i, s) for i, s in enumerate(self.steps) if s.kind == "source"]
            lanes = _lanes(sources)
            width = min(source_concurrency(), len(lanes))
            if width > 1:
                self._run_sources_side_by_side(lanes, width)
            else:
                for index, step in sources:
                    self._run_step(index, step)
            for index, step in enumerate(self.steps):
                if step.kind != "source":
                    self._run_step(index, step)
        except KeyboardInterrupt as exc:
            self.reporter.close()
            self._interrupted(exc)
            raise
        finally:
            self.dbt.stop()  # a pre-started dbt the build did not use (skipped, failed)
            if self._early is not None:  # not used by a build step (none ran): undone
                self._early.cancel()
                self._early = None
                self.schemas.drop_build_schemas(wait_s=5)
        return self._finish()

    def _run_sources_side_by_side(self, lanes: list[list[tuple[int, Step]]], width: int) -> None:
        """The sources' lanes (`_lanes`), `width` at a time, each in a thread of its own;
        this (the main) thread waits, so a signal (SIGINT, SIGTERM) still reaches it and
        `_interrupted` stops the lanes. An exception a lane does not record as its step's
        failure (KeyboardInterrupt) is raised here once every lane has stopped."""
        waiting = list(lanes)
        raised: list[BaseException] = []
        running = [width]

        def lane_worker() -> None:
            try:
                while not self._stopping.is_set():
                    with self._record_lock:
                        if not waiting:
                            return
                        lane = waiting.pop(0)
                    for index, step in lane:
                        if self._stopping.is_set():
                            return
                        self._run_step(index, step)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                raised.append(exc)
                self._stopping.set()  # no lane starts another step
            finally:
                with self._record_lock:
                    running[0] -= 1
                    if not running[0]:
                        self._lanes_done.set()

        self._lanes_done.clear()
        self._lane_threads = [
            threading.Thread(target=lane_worker, name=f"qbr refresh sources {n + 1}", daemon=True)
            for n in range(width)
        ]
        for thread in self._lane_threads:
            thread.start()
        # An Event, not Thread.join: a signal's exception raised inside join() can leave
        # a running thread marked as finished (CPython before 3.13).
        while not self._lanes_done.wait(timeout=0.2):
            if any(isinstance(exc, KeyboardInterrupt) for exc in raised):
                self._stop_lanes("interrupted")  # an interrupt in one lane stops them all
                break
        if self._lanes_done.is_set():
            self._lane_threads = []
        if raised:
            raise raised[0]

    def _stop_lanes(self, reason: str, timeout_s: float = LANE_STOP_TIMEOUT_S) -> None:
        """Ask the sources still loading in their threads to stop (dlt checks its
        process-wide signal flag between items, in normalize and load) and wait for them;
        a step that ends meanwhile records how it ended, one still running is recorded
        failed with `reason` by `_interrupted`."""
        self._interrupt_reason = reason
        self._stopping.set()
        if not self._lane_threads or self._lanes_done.is_set():
            return
        from dlt.common.runtime import signals as dlt_signals

        dlt_signals.set_received_signal(signal.SIGINT)
        dlt_signals.wake_all()
        try:
            self._lanes_done.wait(timeout=timeout_s)
        finally:
            dlt_signals.set_received_signal(0)  # later pipelines in this process run on

    def _start_early(self) -> _EarlyPrepare | None:
        """While the sources load: drop the old side schemas and copy dbt's own tables (seeds,
        incremental tables) into them, on a connection of its own. Only for the build the
        rules alone decide (no --full / --since, a layered project, rules known); the build
        step checks that its decision agrees, else it starts over."""
        if not PREPARE_DURING_SOURCES or self.full or self.since or not self.layered:
            return None
        if self.rules is None:
            return None
        if not any(s.kind == "build" for s in self.steps):
            return None
        try:
            decision = dbt_runner.rules_decision(self.conn, self.rules)
        except psycopg.Error:
            return None
        env = dbt_runner.dbt_env(self.settings, None, self.project_dir)
        target = self._target(env, decision)
        if target[0]:  # a full refresh copies nothing
            return None
        return _EarlyPrepare(self, decision, target)

    def _run_step(self, index: int, step: Step) -> None:
        """Run and record one step (sources may run several at once, each in a thread)."""
        with self._record_lock:
            step.status = "running"
            done = self._steps_done
        self.runlog.step_started(step)
        self.runlog.progress(self.percent(done), force=True)
        self.reporter.step_started(index, len(self.steps), step.name, step.kind)
        started = time.monotonic()
        status, error = "succeeded", None
        details: dict[str, Any] = {}
        try:
            if step.kind == "source":
                with self.reporter.collecting(step.name):
                    rows, loaded = _load_source(self.settings, step.name, self.full, self.since)
                details = dict(loaded or {})
                rejected = details.get("rows_rejected")
                step.rows_loaded = None if rows is None else max(int(rows), 0)
                step.rows_rejected = None if rejected is None else max(int(rejected), 0)
            else:
                details = self._build(index)
        except Exception as exc:  # one failing step is recorded, the others go on
            status = "failed"
            error = (str(exc).strip() or type(exc).__name__)[:4000]
            if self._interrupt_reason:  # stopped by `_stop_lanes`: say why, not how
                error = self._interrupt_reason
            if isinstance(exc, StepError):
                details.update(exc.details)
            log.debug("step %s failed", step.name, exc_info=True)
        with self._record_lock:
            if step.name in self._abandoned:  # recorded by `_interrupted` meanwhile
                return
            step.details = details
            step.status, step.error = status, error
            step.duration_ms = int((time.monotonic() - started) * 1000)
            self._steps_done += 1
            done = self._steps_done
            self.runlog.step_finished(step)
        self.runlog.progress(self.percent(done), force=True)
        self.reporter.step_finished(step)

    def _build(self, index: int) -> dict[str, Any]:
        sources = [(s.name, s.status, s.rows_loaded) for s in self.steps if s.kind == "source"]
        clock = timings.PhaseClock()
        early, self._early = self._early, None
        dbt_vars = self._build_vars()
        env = dbt_runner.dbt_env(self.settings, None, self.project_dir)
        if early is not None:
            early.wait()
            clock.lap("prepare")  # what the sources did not hide of it
            clock.record("prepare (during sources)", early.seconds)
            if isinstance(early.error, _SchemasInUse):
                raise StepError(str(early.error))
        # Whether the build may be skipped needs the content of what the sources loaded
        # (the fingerprint). When that is costly and a build likely, dbt starts at once
        # and the fingerprint is computed beside it; a skip then stops dbt.
        decision: dbt_runner.BuildDecision | None = None
        if early is None or _skip_likely(sources):
            decision = self._decide(self.conn, sources)
            clock.lap("fingerprint")
            if decision.skip:
                if early is not None:
                    self.schemas.drop_build_schemas()
                return {**decision.details(), "build_mode": "skipped", "phases": clock.phases}
            if early is not None and (early.error or not early.agrees(decision)):
                self.schemas.drop_build_schemas()
                early = None
            target = early.target if early is not None else self._target(env, decision)
        else:
            guessed, target = early, early.target
            if early.error:
                self.schemas.drop_build_schemas()
                early = None
        outcome, target, copied = self._prepare_and_run(index, env, dbt_vars, target, early,
                                                        sources if decision is None else None,
                                                        clock)  # fmt: skip
        if decision is None:
            decision = self._fingerprinting.wait()
            clock.record("fingerprint (during dbt)", self._fingerprinting.seconds)
            if decision.skip or not guessed.agrees(decision):
                self.dbt.stop()
                self.schemas.drop_build_schemas()
                if decision.skip:
                    return {
                        **decision.details(),
                        "build_mode": "skipped",
                        "build_stopped": "dbt started beside the fingerprint, stopped",
                        "phases": clock.phases,
                    }
                # the decision disagrees with the rules seen before the sources (an edit
                # meanwhile, a fingerprint error): build as the decision says
                target = self._target(env, decision)
                outcome, target, copied = self._prepare_and_run(
                    index, env, dbt_vars, target, None, None, clock
                )
        if outcome.returncode != 0 and dbt_runner.is_deadlock(outcome.tail):  # dbt-core#9246
            self.schemas.drop_build_schemas()
            outcome, target, copied = self._prepare_and_run(
                index, env, dbt_vars, target, None, None, clock
            )
            decision.reason += "; rebuilt once after a deadlock"
        full, plan, mode_reason = target
        details = {**outcome.details(), **decision.details()}
        details["build_mode"] = "data-only" if plan else "full swap"
        details["build_mode_reason"] = mode_reason
        if plan:
            details.update(plan.details())
        if copied:
            details["incremental_tables_copied"] = copied
        details.update(timings.dbt_node_timings(env))  # nodes over 1 s (qbr/timings.py)
        if outcome.returncode != 0:
            self.schemas.drop_build_schemas()
            raise StepError(outcome.error_message(), details)
        dbt_runner.stamp_build(env, decision.rules_key())
        details.update(self.schemas.swap())
        clock.lap("swap")
        details["overlay_tables"] = dbt_runner.refresh_overlays(self.conn)  # migration 0005
        clock.lap("overlays")
        details["phases"] = clock.phases
        return details

    def _build_vars(self) -> dict[str, Any]:
        """The vars of the build (also those the pre-started dbt parses with: one place)."""
        dbt_vars = {**self.dbt_vars, "marts_suffix": BUILD_SUFFIX}
        if self.layered:
            dbt_vars["layers_suffix"] = BUILD_SUFFIX
        if self.since:
            dbt_vars.setdefault("refresh_since", self.since)
        return dbt_vars

    def _decide(self, conn: psycopg.Connection, sources: list) -> dbt_runner.BuildDecision:
        return dbt_runner.decide_build(  # qbr/dbt_runner.py: skip when nothing changed
            conn, self.settings, project_dir=self.project_dir, dbt_vars=self.dbt_vars,
            full=self.full, since=self.since, sources=sources, rules=self.rules,
        )  # fmt: skip

    def _target(self, env: dict[str, str], decision: dbt_runner.BuildDecision) -> _Target:
        """(full refresh, data-only plan or None, why that build mode) for a decision."""
        full = self.full or decision.full_refresh  # rules changed: incrementals rebuilt
        plan, reason = self._plan(env, decision, full)
        return full, plan, reason

    def _prepare_and_run(
        self,
        index: int,
        env: dict[str, str],
        dbt_vars: dict[str, Any],
        target: _Target,
        early: _EarlyPrepare | None,
        sources: list | None,
        clock: timings.PhaseClock,
    ) -> tuple[DbtOutcome, _Target, dict[str, int]]:
        """Fill the side schemas (or finish those filled while the sources loaded: the
        kept views) and run dbt. With `sources`, the fingerprint of what they loaded is
        computed on a connection of its own while dbt runs (`self._fingerprinting`)."""
        full, plan, mode_reason = target
        try:
            if early is not None:
                copied = early.copied
                if plan:
                    self.schemas.create_kept_views(plan)
            else:
                self._drop_build_schemas()
                copied = self._prepare(plan, full)
        except StepError as exc:  # a relation the plan keeps is not live: build in full
            self.schemas.drop_build_schemas()
            plan, mode_reason = None, f"data-only not possible: {exc}"
            copied = self._prepare(plan, full)
        target = (full, plan, mode_reason)
        args = build_args(dbt_vars, full, plan)
        clock.lap("prepare")
        if sources is not None:
            self._fingerprinting = _Fingerprint(self, sources)
        outcome = self.dbt.run(args, self._on_node(index))
        clock.lap("dbt")
        return outcome, target, copied

    def _drop_build_schemas(self) -> None:
        for schema in self.schemas.schemas():
            if not self.schemas.drop_schema(schema + BUILD_SUFFIX):
                raise StepError(_in_use(schema + BUILD_SUFFIX))

    def _plan(
        self, env: dict[str, str], decision: dbt_runner.BuildDecision, full: bool
    ) -> tuple[dbt_runner.DataOnlyPlan | None, str]:
        """A data-only plan when the rules are those of the last good build, else None."""
        if full:
            return None, "--full" if self.full else "the rules changed: every model rebuilt"
        if not self.layered:
            return None, "the project builds only its marts into a side schema"
        rules = decision.rules_key()
        if not rules:
            return None, "the project's fingerprint is unknown"
        return dbt_runner.data_only_plan(env, rules, MARTS_SCHEMA)

    def _prepare(self, plan: dbt_runner.DataOnlyPlan | None, full: bool) -> dict[str, int]:
        """Fill the side schemas before dbt runs: a data-only plan's kept relations, or
        (an incremental full swap) the incremental layers' tables."""
        if plan:
            return self.schemas.prepare_data_only(plan)
        if self.layered and not full:
            return self.schemas.copy_incremental_tables()
        return {}

    def _on_node(self, index: int):
        def on_node(outcome: DbtOutcome, event: str) -> None:
            # Every node is in dbt's own log ($QBR_HOME/logs/dbt); here only with -v.
            if log.isEnabledFor(logging.DEBUG):
                self.say(f"        {event}")
            self.reporter.build_node(outcome.done, outcome.total, *outcome.last)
            if outcome.total:
                self.runlog.progress(self.percent(index, 0.95 * outcome.done / outcome.total))

        return on_node

    # -- the end ------------------------------------------------------------------------------

    def _anomalies(self) -> list[dict[str, Any]]:
        """dbt's data_quality_flags (the one implementation), each marked new/carried/ack'd."""
        try:
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
        raised = self._anomalies()
        if not self.runlog.finish(status, error, raised):
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
        for flag in raised:
            counted[flag.get("state", "new")] = counted.get(flag.get("state", "new"), 0) + 1
        if counted["new"] or counted["carried"]:
            self.say(
                f"  {counted['new']} new anomaly flag(s), {counted['carried']} carried over"
                f" ({counted['acknowledged']} acknowledged): `qbr runs {self.batch_id}`"
            )
        return Run(self.batch_id, status, self.steps, error, raised)

    def _interrupted(self, exc: BaseException) -> None:
        reason = "interrupted (SIGTERM)" if isinstance(exc, RefreshInterrupted) else "interrupted"
        self.dbt.cancel()
        self._stop_lanes(reason)
        if self._fingerprinting is not None:
            self._fingerprinting.cancel()
        if self._early is not None:
            self._early.cancel()
            self._early = None
        with self._record_lock:
            for step in self.steps:
                if step.status == "running":
                    step.status, step.error = "failed", reason
                elif step.status == "queued":
                    step.status = "skipped"
                else:
                    continue
                self._abandoned.add(step.name)
                try:
                    self.runlog.step_finished(step)
                except Exception:
                    log.debug("could not record step %s", step.name, exc_info=True)
        try:
            self.schemas.drop_build_schemas(wait_s=5)
            self.runlog.finish("failed", reason, [])
        except Exception:
            log.debug("could not record the interruption", exc_info=True)
        self.say(f"refresh {self.batch_id} failed: {reason}")


#: What a build runs: (full refresh, data-only plan or None, why that build mode).
_Target = tuple[bool, "dbt_runner.DataOnlyPlan | None", str]


class _SchemasInUse(StepError):
    """An old side schema could not be dropped: an earlier build may still run."""


def _in_use(schema: str) -> str:
    return f"{schema} is still in use (an earlier build may still be running); not building"


def _skip_likely(sources: list[tuple[str, str, int | None]]) -> bool:
    """Every source succeeded and loaded no row: the fingerprint reuses its hashes (cheap)
    and a skip is likely, so it is decided before anything is built."""
    return bool(sources) and all(st == "succeeded" and rows == 0 for _, st, rows in sources)


class _Background:
    """A thread working on a database connection of its own; `cancel()` cancels its
    statement and waits for it."""

    name = "qbr refresh"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seconds = 0.0
        self.error: BaseException | None = None
        self.conn: psycopg.Connection | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        started = time.monotonic()
        try:
            with db.connect(self.settings, autocommit=True) as conn:
                conn.execute("select set_config('application_name', %s, false)", (self.name,))
                self.conn = conn
                if not self.stopping.is_set():
                    self.work(conn)
        except BaseException as exc:
            self.error = exc
            log.debug("%s failed", self.name, exc_info=True)
        finally:
            self.conn = None
            self.seconds = round(time.monotonic() - started, 2)
            self.done()

    def work(self, conn: psycopg.Connection) -> None:
        raise NotImplementedError

    def done(self) -> None:
        pass

    def wait(self) -> None:
        self.thread.join()

    def cancel(self) -> None:
        self.stopping.set()
        conn = self.conn
        if conn is not None:
            try:
                conn.cancel_safe(timeout=5)
            except Exception:
                log.debug("could not cancel %s", self.name, exc_info=True)
        self.thread.join(timeout=30)


class _EarlyPrepare(_Background):
    """The side schemas filled while the sources load (`_Refresh._start_early`): the old
    ones dropped, dbt's seeds and incremental tables copied. `copied` when done, `error`
    when not (a _SchemasInUse fails the build; anything else: prepared again after)."""

    name = "qbr refresh prepare"

    def __init__(
        self, refresh: _Refresh, decision: dbt_runner.BuildDecision, target: _Target
    ) -> None:
        self.refresh = refresh
        self.rules = decision
        self.target = target
        self.copied: dict[str, int] = {}
        super().__init__(refresh.settings)

    def agrees(self, decision: dbt_runner.BuildDecision) -> bool:
        """Whether the decision after the sources builds what was prepared: the same rules,
        the same full refresh or not (the plan follows from them and the saved manifest,
        which nothing but a build writes)."""
        return (decision.rules_key(), decision.full_refresh) == (
            self.rules.rules_key(),
            self.rules.full_refresh,
        )

    def work(self, conn: psycopg.Connection) -> None:
        schemas = SchemaSwap(conn, self.refresh.layered, self.refresh.say)
        for schema in schemas.schemas():
            if not schemas.drop_schema(schema + BUILD_SUFFIX):
                raise _SchemasInUse(_in_use(schema + BUILD_SUFFIX))
        _full, plan, _reason = self.target
        if self.stopping.is_set():
            return
        if plan:
            self.copied = schemas.copy_kept_tables(plan)
        else:
            self.copied = schemas.copy_incremental_tables()


class _Fingerprint(_Background):
    """The build decision computed while dbt runs; a skip stops dbt (`DbtBuild.cancel`)."""

    name = "qbr refresh fingerprint"

    def __init__(self, refresh: _Refresh, sources: list) -> None:
        self.refresh = refresh
        self.sources = sources
        self.decision: dbt_runner.BuildDecision | None = None
        super().__init__(refresh.settings)

    def work(self, conn: psycopg.Connection) -> None:
        self.decision = self.refresh._decide(conn, self.sources)

    def done(self) -> None:
        if self.decision is None:  # as decide_build on a database error: build
            reason = f"could not fingerprint the inputs: {self.error}".strip()
            self.decision = dbt_runner.BuildDecision(False, reason, {})
        if self.decision.skip:
            self.refresh.dbt.cancel()

    def wait(self) -> dbt_runner.BuildDecision:  # type: ignore[override]
        super().wait()
        assert self.decision is not None
        return self.decision


def _local(settings: Settings, when: datetime) -> str:
    return when.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M %Z")


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
    is taken as given). `batch_id` picks up a run queued by `qbr.refresh.start_background`
    (its options come from the row). `project_dir` / `dbt_vars` select another
    dbt project and add build vars (tests). Raises RefreshBusy when another
    refresh is queued or running, RefreshInterrupted on SIGTERM (recorded first).
    """
    queue.check_since(since)
    prepare_quietly(settings)
    reporter = _reporter(echo)
    names = [] if batch_id else queue.resolve_sources(settings, sources)
    options = queue.options_for(names, since, full, project_dir, dbt_vars)
    conn = db.connect(settings, autocommit=True)
    try:
        conn.execute("set application_name = 'qbr refresh'")
        batch_id, steps, options = queue.claim(
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
