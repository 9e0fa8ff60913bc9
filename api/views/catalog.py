"""Periods and the metric catalogue."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import Field

from api import shapes as S
from api.auth import org_id
from api.db import get_conn, iso
from api.shapes import Bool, Date, Direction, Shape, Str, Timestamp
from api.spec import json_response, operation
from api.views.common import definitions

bp = Blueprint("catalog", __name__)

PeriodType = Literal["monthly", "quarterly"]


class Coverage(Shape):
    connectwise: Bool
    quickbooks: Bool
    inventory: Bool


class Period(Shape):
    """A month or quarter: bounds, completeness and which sources cover it."""

    period: str
    period_type: PeriodType
    start_date: Date
    end_date: Date
    starts_at: Timestamp
    ends_at: Timestamp
    is_complete: Bool
    is_in_progress: Bool
    months: list[str] | None
    coverage: Coverage


class PeriodList(Shape):
    type: PeriodType
    latest_complete: Str
    periods: list[Period]
    total: int
    limit: int
    offset: int


P_TYPE = S.query(
    "type",
    {"type": "string", "enum": ["monthly", "quarterly"], "default": "monthly"},
    "monthly (YYYY-MM) or quarterly (YYYY-Qn).",
)

PERIODS_SQL = """
select period, period_type, start_date, end_date, starts_at, ends_at, is_complete,
    is_in_progress, months, has_connectwise, has_quickbooks, has_inventory,
    count(*) over () as total,
    max(period) filter (where is_complete) over () as latest_complete
from qbr.periods where organization_id = %(org)s and period_type = %(type)s
order by period limit %(limit)s offset %(offset)s
"""


def period_json(r: dict) -> dict:
    return {
        "period": r["period"],
        "period_type": r["period_type"],
        "start_date": iso(r["start_date"]),
        "end_date": iso(r["end_date"]),
        "starts_at": iso(r["starts_at"]),
        "ends_at": iso(r["ends_at"]),
        "is_complete": r["is_complete"],
        "is_in_progress": r["is_in_progress"],
        "months": r["months"],
        "coverage": {
            "connectwise": r["has_connectwise"],
            "quickbooks": r["has_quickbooks"],
            "inventory": r["has_inventory"],
        },
    }


@bp.get("/periods")
@operation(
    summary="Periods with completeness and per-source coverage",
    tag="catalog",
    response=PeriodList,
    params=[P_TYPE, *S.PAGING],
    cache=True,
)
def periods(query):
    page = S.paged(get_conn(), PERIODS_SQL, {"org": org_id(), "type": query["type"]}, query)
    return json_response(
        {
            "type": query["type"],
            "latest_complete": page.head["latest_complete"] if page.head else None,
            **S.page_json("periods", [period_json(r) for r in page.rows], page.total, query),
        }
    )


class Definition(Shape):
    """A metric of the catalogue (seed metric_catalogue)."""

    key: str
    name: Str
    category: Str
    unit: Str
    source: Str
    formula: Str
    quarterly_rule: Str
    direction: Direction | None
    display_order: int | None
    is_smartnumber: Bool
    description: Str
    docs_url: Str
    collection: Literal["collected", "manual", "collected_or_manual", "derived"] | None = Field(
        description="Where the value comes from (catalogue seed); collected_or_manual "
        "is METRICS.md's 'else manual'."
    )
    manual_entry: bool = Field(
        description="POST /metrics/manual accepts this metric (a value a source "
        "collected is only overridden with force)."
    )


Definitions = S.page_of("Definitions", "definitions", Definition)


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
    response=Definitions,
    params=list(S.PAGING),
    cache=True,
)
def metric_definitions(query):
    rows = list(definitions(get_conn()).values())
    limit, offset = query["limit"], query["offset"]
    items = [definition_json(d) for d in rows[offset : offset + limit]]
    return json_response(S.page_json("definitions", items, len(rows), query))
