"""Refresh runs: start one in the background, list them, follow one's progress.

The run itself belongs to the application layer (`qbr.app.refresh`: sources,
then dbt build, then the atomic swap of the marts); the API only queues one
through the core run queue (`qbr.refresh.start_background`, which starts
`python -m qbr.app.refresh` as its own process) and reads the run log in
qbr_app.refresh_runs / refresh_steps.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Blueprint, current_app, g, url_for
from pydantic import Field

from api import shapes as S
from api.auth import audit, org_id
from api.db import get_conn, iso, number
from api.errors import ApiError
from api.shapes import JsonObject, Month, Num, RunStatus, Shape, Str, Timestamp
from api.spec import json_response, operation
from api.views.common import jsonable
from qbr import refresh, sources
from qbr.periods import parse_month

bp = Blueprint("refresh", __name__)

SourceName = Annotated[str, Field(pattern="^[a-z][a-z0-9_]*$", max_length=50)]


class RefreshRequest(Shape):
    sources: list[SourceName] = Field(
        default=None, max_length=20, json_schema_extra={"uniqueItems": True}
    )
    since: Month | None = None
    full: bool = False


class RefreshAccepted(Shape):
    batch_id: str
    status: Literal["queued"]
    status_url: str


class RefreshRun(Shape):
    """A refresh run as the run log holds it."""

    batch_id: str
    status: RunStatus
    trigger: str
    requested_by: Str
    options: JsonObject
    progress: float = Field(ge=0, le=100)
    error: Str
    created_at: Timestamp
    started_at: Timestamp
    finished_at: Timestamp
    duration_seconds: Num
    status_url: str


class RefreshStep(Shape):
    name: str
    kind: str
    step_order: int
    status: str
    rows_loaded: int | None
    rows_rejected: int | None
    started_at: Timestamp
    finished_at: Timestamp
    duration_ms: int | None
    error: Str
    details: JsonObject


class RefreshRunDetail(RefreshRun):
    """One run with its steps and the anomaly flags its build raised."""

    anomaly_flags: list[Any]
    steps: list[RefreshStep]


RefreshList = S.page_of("RefreshList", "runs", RefreshRun)

LIST_SQL = """
select {columns}, count(*) over () as total from qbr_app.refresh_runs
where organization_id = %(org)s and (%(status)s::text is null or status = %(status)s)
order by created_at desc, batch_id desc limit %(limit)s offset %(offset)s
"""

BATCH_RE = r"^bc_[0-9A-Za-z]{26}$"

RUN_COLUMNS = """
batch_id, status, trigger, requested_by, options, progress, error, created_at, started_at,
finished_at, extract(epoch from (coalesce(finished_at, now()) - started_at)) as duration_seconds
"""

P_STATUS = S.query(
    "status",
    {"type": "string", "enum": S.RUN_STATUSES},
    "Only runs with this status.",
)
P_BATCH = S.path("batch_id", {"type": "string", "maxLength": 40}, "bc_ followed by a ULID.")


def run_json(r: dict) -> dict:
    return {
        "batch_id": r["batch_id"],
        "status": r["status"],
        "trigger": r["trigger"],
        "requested_by": r["requested_by"],
        "options": jsonable(r["options"] or {}),
        "progress": number(r["progress"]) or 0,
        "error": r["error"],
        "created_at": iso(r["created_at"]),
        "started_at": iso(r["started_at"]),
        "finished_at": iso(r["finished_at"]),
        "duration_seconds": number(r["duration_seconds"]),
        "status_url": url_for(".get_run", batch_id=r["batch_id"]),
    }


def _refresh_api():
    """qbr.refresh's start_background, RefreshBusy, RefreshOptionsError (looked up per call)."""
    return (
        getattr(refresh, "start_background", None),
        getattr(refresh, "RefreshBusy", None),
        getattr(refresh, "RefreshOptionsError", None),
    )


def reconcile_runs() -> None:
    """A run whose process died reads as failed (with why) on this very read."""
    refresh.reconcile_on_read(current_app.extensions["qbr_settings"], get_conn())


def known_sources() -> tuple[str, ...]:
    """The refresh steps a request may name: the source registry (qbr.sources)."""
    return sources.names()


@bp.post("/refresh")
@operation(
    summary="Start a refresh (sources, then dbt build) in the background",
    tag="refresh",
    response=RefreshAccepted,
    status=202,
    body=RefreshRequest,
    body_required=False,
    scope="admin",
    errors=(409,),
    description="Only one refresh runs at a time: 409 carries the running batch_id. "
    "Without `sources` every configured source loads; `[]` rebuilds the marts only.",
)
def start(body):
    sources = body.get("sources")  # absent: every configured source; []: only the build
    if sources:
        valid = known_sources()
        unknown = [s for s in sources if s not in valid]
        if unknown:
            raise ApiError(
                400,
                "UNKNOWN_SOURCE",
                f"Unknown source(s) {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}.",
            )
    since = body.get("since")
    if since is not None:
        parse_month(since, "since")
    full = bool(body.get("full", False))
    start_background, busy_error, options_error = _refresh_api()
    if start_background is None:
        raise ApiError(503, "REFRESH_UNAVAILABLE", "Refresh from the API is not available yet.")
    try:
        batch_id = start_background(
            current_app.extensions["qbr_settings"],
            sources=sources,
            since=since,
            full=full,
            requested_by=g.principal["name"],
        )
    except Exception as exc:
        if busy_error is not None and isinstance(exc, busy_error):
            running = getattr(exc, "batch_id", None)
            extra = {"batch_id": str(running)} if running else {}
            raise ApiError(
                409,
                "REFRESH_BUSY",
                f"A refresh is already in progress ({running or 'lock held elsewhere'}).",
                **extra,
            ) from None
        if options_error is not None and isinstance(exc, options_error):
            raise ApiError(400, "INVALID_REFRESH_OPTIONS", str(exc)) from None
        raise
    with get_conn().transaction():
        audit("refresh.start", batch_id, {"sources": sources, "since": since, "full": full})
    status_url = url_for(".get_run", batch_id=batch_id)
    return json_response(
        {"batch_id": batch_id, "status": "queued", "status_url": status_url},
        202,
        {"Location": status_url},
    )


@bp.get("/refresh")
@operation(
    summary="Refresh runs, newest first",
    tag="refresh",
    response=RefreshList,
    params=[P_STATUS, *S.PAGING],
)
def list_runs(query):
    reconcile_runs()
    sql = LIST_SQL.format(columns=RUN_COLUMNS)
    page = S.paged(get_conn(), sql, {"org": org_id(), "status": query["status"]}, query)
    return json_response(S.page_json("runs", [run_json(r) for r in page.rows], page.total, query))


@bp.get("/refresh/<batch_id>")
@operation(
    summary="One run: status, progress and per-step results",
    tag="refresh",
    response=RefreshRunDetail,
    params=[P_BATCH],
    errors=(404,),
)
def get_run(batch_id):
    conn = get_conn()
    reconcile_runs()
    row = conn.execute(
        f"select {RUN_COLUMNS}, anomaly_flags from qbr_app.refresh_runs "
        "where organization_id = %s and batch_id = %s",
        (org_id(), batch_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "REFRESH_NOT_FOUND", f"No refresh run {batch_id!r}.")
    steps = conn.execute(
        "select name, kind, step_order, status, rows_loaded, rows_rejected, started_at, "
        "finished_at, duration_ms, error, details from qbr_app.refresh_steps "
        "where batch_id = %s order by step_order, id",
        (batch_id,),
    ).fetchall()
    return json_response(
        {
            **run_json(row),
            "anomaly_flags": jsonable(row["anomaly_flags"] or []),
            "steps": [
                {
                    "name": s["name"],
                    "kind": s["kind"],
                    "step_order": s["step_order"],
                    "status": s["status"],
                    "rows_loaded": s["rows_loaded"],
                    "rows_rejected": s["rows_rejected"],
                    "started_at": iso(s["started_at"]),
                    "finished_at": iso(s["finished_at"]),
                    "duration_ms": s["duration_ms"],
                    "error": s["error"],
                    "details": jsonable(s["details"] or {}),
                }
                for s in steps
            ],
        }
    )
