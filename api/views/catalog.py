"""Periods and the metric catalogue."""

from __future__ import annotations

from flask import Blueprint

from api import schemas as S
from api.auth import org_id
from api.db import get_conn, iso
from api.spec import json_response, operation
from api.views.common import definitions, paging

bp = Blueprint("catalog", __name__)

P_TYPE = S.query(
    "type",
    {"type": "string", "enum": ["monthly", "quarterly"], "default": "monthly"},
    "monthly (YYYY-MM) or quarterly (YYYY-Qn).",
)


@bp.get("/periods")
@operation(
    summary="Periods with completeness and per-source coverage",
    tag="catalog",
    response="PeriodList",
    params=[P_TYPE, *S.PAGING],
    cache=True,
)
def periods(query):
    limit, offset = paging(query)
    conn = get_conn()
    params = {"org": org_id(), "type": query["type"], "limit": limit, "offset": offset}
    rows = conn.execute(
        "select period, period_type, start_date, end_date, starts_at, ends_at, is_complete, "
        "is_in_progress, months, has_connectwise, has_quickbooks, has_inventory, "
        "count(*) over () as total, "
        "max(period) filter (where is_complete) over () as latest_complete "
        "from qbr.periods where organization_id = %(org)s and period_type = %(type)s "
        "order by period limit %(limit)s offset %(offset)s",
        params,
    ).fetchall()
    if rows:
        total, latest = rows[0]["total"], rows[0]["latest_complete"]
    else:
        agg = conn.execute(
            "select count(*) as total, max(period) filter (where is_complete) as latest "
            "from qbr.periods where organization_id = %(org)s and period_type = %(type)s",
            params,
        ).fetchone()
        total, latest = agg["total"], agg["latest"]
    return json_response(
        {
            "type": query["type"],
            "latest_complete": latest,
            "periods": [
                {
                    "period": r["period"],
                    "period_type": r["period_type"],
                    "start_date": iso(r["start_date"]),
                    "end_date": iso(r["end_date"]),
                    "starts_at": iso(r["starts_at"]),
                    "ends_at": iso(r["ends_at"]),
                    "is_complete": r["is_complete"],
                    "is_in_progress": r["is_in_progress"],
                    "months": list(r["months"]) if r["months"] is not None else None,
                    "coverage": {
                        "connectwise": r["has_connectwise"],
                        "quickbooks": r["has_quickbooks"],
                        "inventory": r["has_inventory"],
                    },
                }
                for r in rows
            ],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


def definition_json(d: dict) -> dict:
    return {
        "key": d["metric_key"],
        "name": d["metric_name"],
        "category": d["category"],
        "unit": d["unit"],
        "source": d["source"],
        "formula": d["formula"],
        "quarterly_rule": d["quarterly_rule"],
        "direction": d["direction"] or None,
        "display_order": d["display_order"],
        "is_smartnumber": d["is_smartnumber"],
        "description": d["description"],
        "docs_url": d["docs_url"],
        "collection": d["collection"],
        # POST /metrics/manual accepts it (every monthly input; a collected value needs force)
        "manual_entry": d["metric_type"] == "input",
    }


@bp.get("/metrics/definitions")
@operation(
    summary="The metric catalogue: unit, source, formula, quarterly rule, direction",
    tag="catalog",
    response="Definitions",
    params=list(S.PAGING),
    cache=True,
)
def metric_definitions(query):
    limit, offset = paging(query)
    rows = list(definitions(get_conn()).values())
    return json_response(
        {
            "definitions": [definition_json(d) for d in rows[offset : offset + limit]],
            "total": len(rows),
            "limit": limit,
            "offset": offset,
        }
    )
