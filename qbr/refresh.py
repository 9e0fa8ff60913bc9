"""One refresh: every configured source, then `dbt build`, recorded as one run.

Each source loads independently (one failing does not stop the others); the
build runs after them. The run and its steps are written to
`qbr_app.refresh_runs` / `refresh_steps` as they happen, so the API and
`qbr runs` can show progress while it is going.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb
from ulid import ULID

from qbr import db, dbt_runner
from qbr.settings import Settings
from qbr.sources import configured_sources, source_config

log = logging.getLogger("qbr.refresh")


def new_batch_id() -> str:
    return f"bc_{ULID()}"


@dataclass
class Step:
    name: str
    kind: str
    status: str = "queued"
    rows_loaded: int | None = None
    error: str | None = None
    duration_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    batch_id: str
    status: str
    steps: list[Step]


class RunLog:
    """Writes a run and its steps to qbr_app as they progress."""

    def __init__(self, settings: Settings, batch_id: str):
        self.settings = settings
        self.batch_id = batch_id

    def _exec(self, query: str, params: tuple) -> None:
        with db.connect(self.settings) as conn:
            conn.execute(query, params)

    def create(self, steps: list[Step], trigger: str, options: dict) -> None:
        with db.connect(self.settings) as conn:
            conn.execute(
                "insert into qbr_app.refresh_runs "
                "(batch_id, status, trigger, options, started_at, pid) "
                "values (%s, 'running', %s, %s, now(), %s)",
                (self.batch_id, trigger, Jsonb(options), os.getpid()),
            )
            for i, step in enumerate(steps):
                conn.execute(
                    "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind) "
                    "values (%s, %s, %s, %s)",
                    (self.batch_id, i, step.name, step.kind),
                )

    def step_started(self, step: Step) -> None:
        self._exec(
            "update qbr_app.refresh_steps set status = 'running', started_at = now() "
            "where batch_id = %s and name = %s",
            (self.batch_id, step.name),
        )

    def step_finished(self, step: Step, progress: float) -> None:
        with db.connect(self.settings) as conn:
            conn.execute(
                "update qbr_app.refresh_steps set status = %s, rows_loaded = %s, error = %s, "
                "finished_at = now(), duration_ms = %s, details = %s "
                "where batch_id = %s and name = %s",
                (
                    step.status,
                    step.rows_loaded,
                    step.error,
                    step.duration_ms,
                    Jsonb(step.details),
                    self.batch_id,
                    step.name,
                ),
            )
            conn.execute(
                "update qbr_app.refresh_runs set progress = %s where batch_id = %s",
                (round(progress, 2), self.batch_id),
            )

    def finish(self, status: str, error: str | None) -> None:
        self._exec(
            "update qbr_app.refresh_runs set status = %s, error = %s, progress = 100, "
            "finished_at = now() where batch_id = %s",
            (status, error, self.batch_id),
        )


def _load_source(settings: Settings, name: str, full: bool) -> tuple[int, dict]:
    from dlt_pipelines import runner

    cfg = source_config(settings, name)
    if cfg is None:
        raise RuntimeError(f"source {name} is not configured")
    if name == "connectwise":
        from dlt_pipelines.connectwise import connectwise_source

        source = connectwise_source(**cfg)
    else:
        raise RuntimeError(f"no pipeline for source {name!r} yet")
    pipeline = runner.make_pipeline(settings, name)
    if full:
        pipeline.drop()
        pipeline = runner.make_pipeline(settings, name)
    pipeline.run(source)
    return runner.rows_loaded(pipeline), {}


def _build(settings: Settings) -> tuple[int, dict]:
    res = dbt_runner.run(settings, ["build", "--fail-fast"])
    if res.returncode != 0:
        tail = "\n".join((res.stdout or "").splitlines()[-25:])
        raise RuntimeError(f"dbt build failed:\n{tail}")
    return 0, {}


def run_refresh(
    settings: Settings,
    *,
    sources: list[str] | None = None,
    since: str | None = None,
    full: bool = False,
    trigger: str = "cli",
    echo: bool = True,
) -> Run:
    db.prepare(settings)
    names = sources or configured_sources(settings)
    steps = [Step(n, "source") for n in names] + [Step("dbt_build", "build")]
    batch_id = new_batch_id()
    runlog = RunLog(settings, batch_id)
    runlog.create(steps, trigger, {"sources": names, "since": since, "full": full})
    say = print if echo else log.info
    say(f"refresh {batch_id}: {', '.join(names) or 'no sources'} then dbt build")

    for i, step in enumerate(steps):
        runlog.step_started(step)
        say(f"  [{i + 1}/{len(steps)}] {step.name} ...")
        started = time.monotonic()
        try:
            if step.kind == "source":
                step.rows_loaded, step.details = _load_source(settings, step.name, full)
            else:
                step.rows_loaded, step.details = _build(settings)
            step.status = "succeeded"
        except Exception as exc:  # one failing step is recorded, the others go on
            step.status = "failed"
            step.error = str(exc)[:4000]
            log.debug("step %s failed", step.name, exc_info=True)
        step.duration_ms = int((time.monotonic() - started) * 1000)
        runlog.step_finished(step, 100.0 * (i + 1) / len(steps))
        rows = f", {step.rows_loaded} rows" if step.rows_loaded else ""
        say(f"        {step.status} in {step.duration_ms / 1000:.1f}s{rows}")
        if step.error:
            say("        " + step.error.splitlines()[0])

    build_ok = steps[-1].status == "succeeded"
    sources_ok = all(s.status == "succeeded" for s in steps[:-1])
    status = "succeeded" if build_ok and sources_ok else ("partial" if build_ok else "failed")
    error = "; ".join(f"{s.name}: {s.error.splitlines()[0]}" for s in steps if s.error) or None
    runlog.finish(status, error)
    say(f"refresh {batch_id} {status}")
    return Run(batch_id, status, steps)
