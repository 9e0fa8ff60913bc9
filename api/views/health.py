"""Health: the one route open without a key. Database, marts, last refresh, source freshness.

Answers 200 with status ok/degraded while the database answers (degraded: no
marts yet or not readable by the API role, or a source not loaded successfully
within a day, METRICS.md §4),
and 503 in the error shape when it does not. Error texts of runs are not
shown here (they need a key: GET /refresh/<batch_id>).
"""

from __future__ import annotations

from flask import Blueprint

from api.db import get_conn, iso
from api.errors import error_response, log
from api.spec import json_response, operation
from api.views.refresh import reconcile_runs

bp = Blueprint("health", __name__)

STALE_AFTER_HOURS = 24

HEALTH_SQL = """
select
    now() as now,
    to_regclass('qbr_app.source_freshness') is not null as has_freshness_view,
    (select has_schema_privilege(oid, 'USAGE') from pg_namespace where nspname = 'qbr')
        as can_read_marts,
    case
        when (select has_schema_privilege(oid, 'USAGE') from pg_namespace where nspname = 'qbr')
        then to_regclass('qbr.periods') is not null
        else false
    end as has_marts,
    (select jsonb_build_object(
        'batch_id', batch_id, 'status', status,
        'started_at', started_at, 'finished_at', finished_at)
     from qbr_app.refresh_runs order by created_at desc limit 1) as last_run,
    (select jsonb_build_object(
        'batch_id', batch_id, 'status', status,
        'started_at', started_at, 'finished_at', finished_at)
     from qbr_app.refresh_runs where status in ('succeeded', 'partial')
     order by finished_at desc nulls last limit 1) as last_ok
"""

#: qbr_app.source_freshness (migration 0003, the refresh log's view) when present.
FRESHNESS_SQL = """
select source as name, last_attempt_status as status, last_attempt_at as attempt_at,
    last_good_load_at as success_at
from qbr_app.source_freshness
order by source
"""

#: The same from refresh_steps directly, for a database without that view.
SOURCES_SQL = """
with attempts as (
    select distinct on (name) name, status, coalesce(finished_at, started_at) as attempt_at
    from qbr_app.refresh_steps
    where kind = 'source'
    order by name, coalesce(finished_at, started_at) desc nulls last, id desc
),
successes as (
    select name, max(finished_at) as success_at
    from qbr_app.refresh_steps
    where kind = 'source' and status = 'succeeded'
    group by name
)
select attempts.name, attempts.status, attempts.attempt_at, successes.success_at
from attempts
left join successes on successes.name = attempts.name
order by attempts.name
"""


def _run(value: dict | None) -> dict | None:
    """A run summary (timestamps already ISO 8601 strings from jsonb)."""
    if value is None:
        return None
    return {k: value.get(k) for k in ("batch_id", "status", "started_at", "finished_at")}


@bp.get("/health")
@operation(
    summary="Liveness, last refresh and per-source freshness (no key needed)",
    tag="health",
    response="Health",
    scope="public",
)
def health():
    try:
        conn = get_conn()
        reconcile_runs()  # a dead run reads as failed here too (qbr.refresh.reconcile_on_read)
        row = conn.execute(HEALTH_SQL).fetchone()
        sources = conn.execute(
            FRESHNESS_SQL if row["has_freshness_view"] else SOURCES_SQL
        ).fetchall()
    except Exception as exc:  # health answers, whatever the database does
        log.warning("health: database unreachable (%s)", type(exc).__name__)
        return error_response(
            503,
            "DATABASE_UNAVAILABLE",
            "The database is unreachable.",
            status="unavailable",
            database="unreachable",
        )
    now = row["now"]
    freshness = []
    for s in sources:
        success_at = s["success_at"]
        age = (now - success_at).total_seconds() / 3600 if success_at else None
        freshness.append(
            {
                "source": s["name"],
                "last_success_at": iso(success_at),
                "last_attempt_at": iso(s["attempt_at"]),
                "last_status": s["status"],
                "age_hours": round(age, 3) if age is not None else None,
                "is_stale": age is None or age > STALE_AFTER_HOURS,
            }
        )
    marts = "ok" if row["has_marts"] else "missing"
    if row["can_read_marts"] is False:
        marts = "unreadable"  # the schema exists but the API role was not granted it
    degraded = marts != "ok" or any(f["is_stale"] for f in freshness)
    return json_response(
        {
            "status": "degraded" if degraded else "ok",
            "database": "ok",
            "marts": marts,
            "last_refresh": _run(row["last_run"]),
            "last_successful_refresh": _run(row["last_ok"]),
            "sources": freshness,
            "stale_after_hours": STALE_AFTER_HOURS,
            "checked_at": iso(now),
        }
    )
