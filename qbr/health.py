"""Health: ok, degraded or failing — one implementation for `GET /health` and `qbr status`.

- **failing** (HTTP 503, `qbr status` exit 2): the database does not answer, the
  marts are missing or not readable, or the last refresh that started ended
  `failed` (a model or test failed, it was interrupted, or its process died).
- **degraded** (HTTP 200, exit 1): the marts are served, but a source failed on
  its last attempt, never loaded successfully, or its last good load is older
  than its staleness limit. Each such source is named with its last good load.
- **ok** (HTTP 200, exit 0): none of the above.

Staleness limits come from one setting, `QBR_STALE_AFTER_HOURS`: a default
and optional per-source overrides, e.g. `26` or `26,quickbooks=50,ninjaone=72`.
Error texts of runs are not shown here (`/health` is public; they need a key).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from qbr import db
from qbr.errors import QbrError
from qbr.refresh.reconcile import reconcile_on_read
from qbr.settings import DEFAULT_STALE_AFTER_HOURS, parse_stale_limits  # noqa: F401 - re-exported

log = logging.getLogger("qbr.health")

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
HTTP_STATUS = {OK: 200, DEGRADED: 200, FAILING: 503}
EXIT_CODE = {OK: 0, DEGRADED: 1, FAILING: 2}

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
    exists (select from qbr_app.refresh_runs where status in ('queued', 'running'))
        as has_active_run,
    (select jsonb_build_object(
        'batch_id', batch_id, 'status', status,
        'started_at', started_at, 'finished_at', finished_at)
     from qbr_app.refresh_runs order by created_at desc limit 1) as last_refresh,
    (select jsonb_build_object(
        'batch_id', batch_id, 'status', status,
        'started_at', started_at, 'finished_at', finished_at)
     from qbr_app.refresh_runs where status in ('succeeded', 'partial')
     order by finished_at desc nulls last limit 1) as last_ok,
    (select jsonb_build_object(
        'batch_id', r.batch_id, 'status', r.status,
        'started_at', r.started_at, 'finished_at', r.finished_at,
        'failed_steps', coalesce((
            select jsonb_agg(s.name order by s.step_order) from qbr_app.refresh_steps s
            where s.batch_id = r.batch_id and s.status = 'failed'), '[]'::jsonb))
     from qbr_app.refresh_runs r
     where r.started_at is not null and r.status not in ('queued', 'running')
     order by r.started_at desc limit 1) as last_run
"""

#: qbr_app.source_freshness (migration 0003): per source, last good load and last attempt.
FRESHNESS_SQL = """
select source as name, last_attempt_status as status, last_attempt_at as attempt_at,
    last_attempt_batch_id as attempt_batch_id, last_good_load_at as success_at
from qbr_app.source_freshness
order by source
"""


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _age_text(hours: float) -> str:
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _source(row: dict, now: datetime, limit: float) -> dict[str, Any]:
    success_at = row["success_at"]
    age = (now - success_at).total_seconds() / 3600 if success_at else None
    stale = age is None or age > limit
    reason = None
    if success_at is None:
        reason = "never loaded successfully"
    elif row["status"] == "failed":
        reason = (
            f"failed on its last refresh ({row['attempt_batch_id']}); "
            f"its data is as of its last good load, {_age_text(age)} ago"
        )
    elif stale:
        reason = f"last good load {_age_text(age)} ago, over its {limit:g} h staleness limit"
    return {
        "name": row["name"],
        "status": DEGRADED if reason else OK,
        "last_good_load_at": _iso(success_at),
        "reason": reason,
        "stale_after_hours": limit,
        # The same facts in the shape /health had before (kept for existing clients).
        "source": row["name"],
        "last_success_at": _iso(success_at),
        "last_attempt_at": _iso(row["attempt_at"]),
        "last_status": row["status"],
        "age_hours": round(age, 3) if age is not None else None,
        "is_stale": stale,
    }


def _run(value: dict | None, *keys: str) -> dict | None:
    if value is None:
        return None
    return {k: value.get(k) for k in ("batch_id", "status", "started_at", "finished_at", *keys)}


def compute(conn: psycopg.Connection, stale_after_hours: str | float | None = None) -> dict:
    """The health report over an open connection (any role that can read qbr_app's run log)."""
    default, per_source = parse_stale_limits(stale_after_hours)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(HEALTH_SQL).fetchone()
        sources_rows = cur.execute(FRESHNESS_SQL).fetchall() if row["has_freshness_view"] else []
    now = row["now"]
    sources = [_source(s, now, per_source.get(s["name"], default)) for s in sources_rows]
    marts = "ok" if row["has_marts"] else "missing"
    if row["can_read_marts"] is False:
        marts = "unreadable"  # the schema exists but the API role was not granted it
    reasons: list[str] = []
    if marts == "missing":
        reasons.append("the qbr marts are not built yet: run a refresh")
    elif marts == "unreadable":
        reasons.append("the qbr marts are not readable by this database role")
    last_run = _run(row["last_run"], "failed_steps")
    if last_run and last_run["status"] == "failed":
        steps = ", ".join(last_run["failed_steps"] or []) or "no step recorded"
        reasons.append(
            f"the last refresh {last_run['batch_id']} failed ({steps}): "
            "the marts are those of the last successful build"
        )
    status = FAILING if reasons else OK
    for s in sources:
        if s["reason"]:
            reasons.append(f"{s['name']}: {s['reason']}")
    if status == OK and any(s["status"] == DEGRADED for s in sources):
        status = DEGRADED
    return {
        "status": status,
        "reasons": reasons,
        "database": "ok",
        "marts": marts,
        "last_run": last_run,
        "last_refresh": _run(row["last_refresh"]),
        "last_successful_refresh": _run(row["last_ok"]),
        "refresh_running": bool(row["has_active_run"]),
        "sources": sources,
        "stale_after_hours": default,
        "checked_at": _iso(now),
    }


def unreachable(what: str = "The database is unreachable.") -> dict:
    return {
        "status": FAILING,
        "reasons": [what],
        "database": "unreachable",
    }


def check(settings, *, reconcile: bool = True) -> dict:
    """`qbr status`: connect with the settings' URL, mark dead runs failed, then compute."""
    try:
        if reconcile:
            reconcile_on_read(settings)
        with db.connect(settings) as conn:
            return compute(conn, settings.stale_after_hours)
    except QbrError:
        raise
    except psycopg.errors.UndefinedTable:
        report = unreachable(
            "The database has no qbr_app tables yet: `qbr db migrate` (or a refresh) creates them."
        )
        report["database"] = "not_migrated"
        return report
    except psycopg.Error as exc:
        log.debug("health: database error", exc_info=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return unreachable(f"The database is unreachable: {first}")


def format_text(report: dict, tz_name: str = "UTC") -> str:
    """A few aligned lines for a person (`qbr status`)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)

    def when(text: str | None) -> str:
        if not text:
            return "never"
        return datetime.fromisoformat(text).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")

    lines = [f"status    {report['status']}"]
    if report.get("database") != "ok":
        lines.append(f"database  {report.get('database')}")
        lines += [f"  {r}" for r in report["reasons"]]
        return "\n".join(lines)
    lines.append(f"marts     {report['marts']}")
    run = report.get("last_run")
    if run:
        lines.append(f"last run  {run['batch_id']}  {run['status']}  {when(run['finished_at'])}")
    else:
        lines.append("last run  none yet")
    if report.get("refresh_running"):
        lines.append("          (a refresh is running now)")
    if report["sources"]:
        lines.append("sources")
        width = max(len(s["name"]) for s in report["sources"])
        for s in report["sources"]:
            lines.append(
                f"  {s['name']:<{width}}  {s['status']:<8}  last good load "
                f"{when(s['last_good_load_at'])}" + (f"  ({s['reason']})" if s["reason"] else "")
            )
    other = [
        r
        for r in report["reasons"]
        if not any(r.startswith(s["name"] + ":") for s in report["sources"])
    ]
    if other:
        lines.append("why")
        lines += [f"  {r}" for r in other]
    return "\n".join(lines)
