"""The `/api/qbr` blueprint: mounts into the standalone app or an existing one.

`init_qbr(app, database_url)` attaches the blueprint's own connection pool;
`app.register_blueprint(qbr_blueprint)` mounts the routes.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from api import auth
from api.db import get_conn, init_pool
from api.errors import ApiError, register_error_handlers
from api.periods import parse_month

qbr_blueprint = Blueprint("qbr", __name__, url_prefix="/api/qbr")
qbr_blueprint.before_request(auth.authenticate)
register_error_handlers(qbr_blueprint)


def init_qbr(app, database_url: str, **pool_kwargs) -> None:
    init_pool(app, database_url, **pool_kwargs)


def _json_number(value):
    return None if value is None else float(value)


@qbr_blueprint.get("/health")
def health():
    try:
        with get_conn() as conn:
            conn.execute("select 1")
            last = conn.execute(
                "select batch_id, status, finished_at from qbr_app.refresh_runs "
                "where status <> 'queued' order by created_at desc limit 1"
            ).fetchone()
    except Exception:  # the database is down: say so, do not raise a 500
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify(
        {
            "status": "ok",
            "database": "ok",
            "last_refresh": last
            and {
                "batch_id": last["batch_id"],
                "status": last["status"],
                "finished_at": last["finished_at"] and last["finished_at"].isoformat(),
            },
        }
    )


@qbr_blueprint.get("/metrics/monthly")
def metrics_monthly():
    period = request.args.get("period")
    with get_conn() as conn:
        if period is None:
            row = conn.execute(
                "select max(period) as period from qbr.periods where is_complete"
            ).fetchone()
            period = row["period"] if row else None
            if period is None:
                raise ApiError(404, "NO_DATA", "No complete period has been built yet.")
        else:
            parse_month(period)
        prow = conn.execute(
            "select period, organization_id, is_complete from qbr.periods where period = %s",
            (period,),
        ).fetchone()
        if prow is None:
            raise ApiError(404, "PERIOD_NOT_FOUND", f"No data for period {period}.")
        rows = conn.execute(
            "select metric_key, metric_name, value, unit, category, source, data_source, "
            "updated_at from qbr.metrics_monthly where period = %s order by metric_key",
            (period,),
        ).fetchall()
    return jsonify(
        {
            "period": period,
            "organization_id": prow["organization_id"],
            "is_complete": prow["is_complete"],
            "metrics": [
                {
                    "key": r["metric_key"],
                    "name": r["metric_name"],
                    "value": _json_number(r["value"]),
                    "unit": r["unit"],
                    "category": r["category"],
                    "source": r["source"],
                    "data_source": r["data_source"],
                    "status": None,
                    "updated_at": r["updated_at"] and r["updated_at"].isoformat(),
                }
                for r in rows
            ],
        }
    )
