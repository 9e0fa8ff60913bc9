"""Health: the one route open without a key. ok / degraded / failing (qbr/health.py).

200 for `ok` and `degraded` (a source failed on its last attempt or is older
than its staleness limit, `QBR_STALE_AFTER_HOURS`), 503 for `failing` (the
database or the marts unreachable, or the last refresh failed) — the body is
the full report either way, in the error shape when 503, so a monitor can
alert on the status code and a person can read why. `qbr status` prints the
same report. Error texts of runs are not shown here (they need a key:
GET /refresh/<batch_id>).
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, current_app

from api.db import get_conn
from api.errors import error_response, log
from api.shapes import Num, RunStatus, Shape, Str, Timestamp
from api.spec import json_response, operation
from api.views.refresh import reconcile_runs
from qbr import health as qbr_health

bp = Blueprint("health", __name__)


class SourceFreshness(Shape):
    name: str
    status: Literal["ok", "degraded"]
    last_good_load_at: Timestamp
    reason: Str
    stale_after_hours: float
    source: str
    last_success_at: Timestamp
    last_attempt_at: Timestamp
    last_status: Str
    age_hours: Num
    is_stale: bool


class RunSummary(Shape):
    batch_id: str
    status: RunStatus
    started_at: Timestamp
    finished_at: Timestamp


class LastRun(RunSummary):
    failed_steps: list[str]


class Health(Shape):
    """The report of qbr/health.py (also `qbr status`)."""

    status: Literal["ok", "degraded", "failing"]
    reasons: list[str]
    database: Literal["ok"]
    marts: Literal["ok", "missing", "unreadable"]
    last_run: LastRun | None
    last_refresh: RunSummary | None
    last_successful_refresh: RunSummary | None
    refresh_running: bool
    sources: list[SourceFreshness]
    stale_after_hours: float
    checked_at: Timestamp


@bp.get("/health")
@operation(
    summary="ok / degraded / failing, with the last refresh and per-source freshness "
    "(no key needed; 503 when failing)",
    tag="health",
    response=Health,
    scope="public",
)
def health():
    settings = current_app.extensions.get("qbr_settings")
    limits = getattr(settings, "stale_after_hours", None)
    try:
        conn = get_conn()
        reconcile_runs()  # a dead run reads as failed here too (qbr.refresh.reconcile_on_read)
        report = qbr_health.compute(conn, limits)
    except Exception as exc:  # health answers, whatever the database does
        log.warning("health: database unreachable (%s)", type(exc).__name__)
        return error_response(
            503,
            "DATABASE_UNAVAILABLE",
            "The database is unreachable.",
            **qbr_health.unreachable(),
        )
    if report["status"] == qbr_health.FAILING:
        return error_response(503, "HEALTH_FAILING", "; ".join(report["reasons"]), **report)
    return json_response(report)
