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

from flask import Blueprint, current_app

from api.db import get_conn
from api.errors import error_response, log
from api.spec import json_response, operation
from api.views.refresh import reconcile_runs
from qbr import health as qbr_health

bp = Blueprint("health", __name__)


@bp.get("/health")
@operation(
    summary="ok / degraded / failing, with the last refresh and per-source freshness "
    "(no key needed; 503 when failing)",
    tag="health",
    response="Health",
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
