"""The run log: `qbr_app.refresh_runs` / `refresh_steps`, written as a run goes.

The API and `qbr runs` read the same rows to show progress while a run goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from qbr import db
from qbr.settings import Settings

PROGRESS_INTERVAL_S = 1.0


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
