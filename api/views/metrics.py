"""Monthly and quarterly metric values and the SmartNumbers."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import psycopg
from flask import Blueprint

from api import schemas as S
from api.auth import org_id
from api.db import get_conn, iso, number
from api.errors import ApiError
from api.spec import json_response, operation
from api.views.common import (
    definitions,
    jsonable,
    latest_complete,
    metric_filter,
    periods_in,
    source_filter,
)
from qbr.periods import parse_quarter, parse_range

bp = Blueprint("metrics", __name__)

MONTHLY_SQL = """
select m.period, m.metric_key, m.metric_name, m.value, m.unit, m.category, m.source,
    m.data_source, m.collected_value, m.manual_value, m.is_complete, m.is_in_progress,
    m.coverage, m.status, m.updated_at
from qbr.metrics_monthly as m
left join qbr.metric_definitions as d on d.metric_key = m.metric_key
where m.organization_id = %(org)s
    and m.period between %(first)s and %(last)s
    and (%(keys)s::text[] is null or m.metric_key = any(%(keys)s::text[]))
    and (%(source)s::text is null or lower(m.source) = %(source)s::text)
order by m.period, d.display_order nulls last, m.metric_key
"""

QUARTERLY_SQL = """
select q.period, q.metric_key, q.metric_name, q.value, q.unit, q.category, q.source,
    q.quarterly_rule, q.months_with_value, q.is_complete,
    qbr_app.threshold_status(
        q.value, t.direction, t.green_min, t.green_max, t.yellow_min, t.yellow_max
    ) as status
from qbr.metrics_quarterly as q
left join qbr.thresholds_effective as t
    on t.organization_id = q.organization_id and t.metric_key = q.metric_key
left join qbr.metric_definitions as d on d.metric_key = q.metric_key
where q.organization_id = %(org)s
    and q.period between %(first)s and %(last)s
    and (%(keys)s::text[] is null or q.metric_key = any(%(keys)s::text[]))
    and (%(source)s::text is null or lower(q.source) = %(source)s::text)
order by q.period, d.display_order nulls last, q.metric_key
"""

MONTHLY_PARTS_SQL = """
select period, metric_key, value, data_source
from qbr.metrics_monthly
where organization_id = %(org)s and period = any(%(months)s::text[])
    and (%(keys)s::text[] is null or metric_key = any(%(keys)s::text[]))
order by period
"""

SMARTNUMBERS_SQL = """
select s.metric_key, s.metric_name, s.value, s.unit, s.category, s.status, s.qoq_change,
    s.yoy_change, s.inputs, s.display_order, s.is_complete, s.is_provisional,
    t.direction, t.green_min, t.green_max, t.yellow_min, t.yellow_max, t.origin
from qbr.smartnumbers as s
left join qbr.thresholds_effective as t
    on t.organization_id = s.organization_id and t.metric_key = s.metric_key
where s.organization_id = %(org)s and s.period = %(period)s
    and (%(keys)s::text[] is null or s.metric_key = any(%(keys)s::text[]))
order by s.display_order nulls last, s.metric_key
"""

CLIENT_COLUMNS = {"organization_id", "period", "client_id", "client_name", "updated_at"}


def monthly_json(r: dict) -> dict:
    return {
        "key": r["metric_key"],
        "name": r["metric_name"],
        "period": r["period"],
        "value": number(r["value"]),
        "unit": r["unit"],
        "category": r["category"],
        "source": r["source"],
        "data_source": r["data_source"],
        "collected_value": number(r["collected_value"]),
        "manual_value": number(r["manual_value"]),
        "status": r["status"],
        "is_complete": r["is_complete"],
        "is_in_progress": r["is_in_progress"],
        "coverage": jsonable(r["coverage"]),
        "updated_at": iso(r["updated_at"]),
    }


def _by_period(items: list[dict], periods: list[dict], single: bool, head: dict) -> dict:
    grouped: dict[str, list] = defaultdict(list)
    for item in items:
        grouped[item["period"]].append(item)
    if single:
        p = periods[0]
        return {
            "period": p["period"],
            **head,
            "is_complete": p["is_complete"],
            "is_in_progress": p["is_in_progress"],
            "metrics": grouped[p["period"]],
        }
    return {
        **head,
        "periods": [
            {
                "period": p["period"],
                "is_complete": p["is_complete"],
                "is_in_progress": p["is_in_progress"],
                "metrics": grouped[p["period"]],
            }
            for p in periods
        ],
    }


def client_row(conn: psycopg.Connection, client_id: str) -> dict:
    row = conn.execute(
        "select client_id, client_name from qbr.clients "
        "where organization_id = %s and client_id::text = %s",
        (org_id(), client_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "CLIENT_NOT_FOUND", f"No client with id {client_id!r}.")
    return row


def client_items(
    conn: psycopg.Connection,
    client_id: str,
    first: str,
    last: str,
    periods: list[dict],
    keys: list[str] | None,
    source: str | None,
) -> list[dict]:
    """A client's monthly metrics, long form.

    Reads `qbr.client_metrics_monthly` as long form (metric_key, value, …, like
    metrics_monthly); a wide mart (one column per metric) is unpivoted, its
    column names taken as metric keys.
    """
    rows = conn.execute(
        "select * from qbr.client_metrics_monthly "
        "where organization_id = %s and client_id::text = %s and period between %s and %s "
        "order by period",
        (org_id(), client_id, first, last),
    ).fetchall()
    defs = definitions(conn)
    status = {p["period"]: p for p in periods}
    items = []
    for row in rows:
        pairs = (
            [(row["metric_key"], row.get("value"))]
            if "metric_key" in row
            else [
                (k, v)
                for k, v in row.items()
                if k not in CLIENT_COLUMNS
                and (v is None or isinstance(v, int | float | Decimal))
                and not isinstance(v, bool)
            ]
        )
        for key, value in pairs:
            d = defs.get(key, {})
            item_source = row.get("source", d.get("source"))
            if keys is not None and key not in keys:
                continue
            if source is not None and (item_source or "").lower() != source:
                continue
            p = status.get(row["period"], {})
            items.append(
                {
                    "key": key,
                    "name": row.get("metric_name", d.get("metric_name")),
                    "period": row["period"],
                    "value": number(value),
                    "unit": row.get("unit", d.get("unit")),
                    "category": row.get("category", d.get("category")),
                    "source": item_source,
                    "data_source": "collected",
                    "collected_value": number(value),
                    "manual_value": None,
                    "status": None,
                    "is_complete": p.get("is_complete"),
                    "is_in_progress": p.get("is_in_progress"),
                    "coverage": None,
                    "updated_at": iso(row.get("updated_at")),
                }
            )
    order = {k: i for i, k in enumerate(defs)}
    items.sort(key=lambda it: (it["period"], order.get(it["key"], len(order)), it["key"]))
    return items


def monthly_payload(conn, query: dict, client_id: str | None) -> dict:
    given = parse_range(query.get("period"), query.get("from"), query.get("to"), quarterly=False)
    single = query.get("from") is None
    if given is None:
        month = latest_complete(conn, "monthly")
        given = (month, month)
    first, last = given
    keys = metric_filter(conn, query.get("metric"))
    source = source_filter(conn, query.get("source"))
    head: dict = {"organization_id": org_id()}
    if client_id is not None:
        client = client_row(conn, client_id)
        periods = periods_in(conn, "monthly", first, last)
        items = client_items(conn, client_id, first, last, periods, keys, source)
        head["client"] = {"client_id": client["client_id"], "client_name": client["client_name"]}
    else:
        periods = periods_in(conn, "monthly", first, last)
        rows = conn.execute(
            MONTHLY_SQL,
            {"org": org_id(), "first": first, "last": last, "keys": keys, "source": source},
        ).fetchall()
        items = [monthly_json(r) for r in rows]
    if not single:
        head = {"from": first, "to": last, **head}
    return _by_period(items, periods, single, head)


@bp.get("/metrics/monthly")
@operation(
    summary="Monthly metric values (one month or a range)",
    tag="metrics",
    response="MetricsMonthly",
    params=[S.P_MONTH, S.P_FROM_MONTH, S.P_TO_MONTH, S.P_METRIC, S.P_SOURCE, S.P_CLIENT],
    cache=True,
    errors=(404,),
    description="Each value carries its source, data_source (collected or manual), threshold "
    "status and the in-progress flag of its month. With `client`, that client's metrics.",
)
def monthly(query):
    return json_response(monthly_payload(get_conn(), query, query["client"]))


def _quarter_source(parts: list[dict]) -> str | None:
    kinds = {p["data_source"] for p in parts if p["value"] is not None}
    if not kinds:
        return None
    if kinds == {"manual"}:
        return "manual"
    return "mixed" if "manual" in kinds else "collected"


@bp.get("/metrics/quarterly")
@operation(
    summary="Quarterly metric values with their monthly parts",
    tag="metrics",
    response="MetricsQuarterly",
    params=[S.P_QUARTER, S.P_FROM_QUARTER, S.P_TO_QUARTER, S.P_METRIC, S.P_SOURCE],
    cache=True,
    errors=(404,),
    description="The quarter's value by the metric's quarterly rule (sum, avg, last, ratio "
    "of sums), its threshold status and the monthly values it was made from.",
)
def quarterly(query):
    conn = get_conn()
    given = parse_range(query["period"], query["from"], query["to"], quarterly=True)
    single = query["from"] is None
    if given is None:
        quarter = latest_complete(conn, "quarterly")
        given = (quarter, quarter)
    first, last = given
    keys = metric_filter(conn, query["metric"])
    source = source_filter(conn, query["source"])
    periods = periods_in(conn, "quarterly", first, last)
    params = {"org": org_id(), "first": first, "last": last, "keys": keys, "source": source}
    rows = conn.execute(QUARTERLY_SQL, params).fetchall()
    months = {p["period"]: list(p["months"] or []) for p in periods}
    all_months = [m for ms in months.values() for m in ms]
    parts: dict[tuple[str, str], dict] = {}
    for r in conn.execute(
        MONTHLY_PARTS_SQL, {"org": org_id(), "months": all_months, "keys": keys}
    ).fetchall():
        parts[(r["metric_key"], r["period"])] = {
            "period": r["period"],
            "value": number(r["value"]),
            "data_source": r["data_source"],
        }
    progress = {p["period"]: p["is_in_progress"] for p in periods}
    items = []
    for r in rows:
        monthly_values = [
            parts.get((r["metric_key"], m), {"period": m, "value": None, "data_source": None})
            for m in months.get(r["period"], [])
        ]
        items.append(
            {
                "key": r["metric_key"],
                "name": r["metric_name"],
                "period": r["period"],
                "value": number(r["value"]),
                "unit": r["unit"],
                "category": r["category"],
                "source": r["source"],
                "quarterly_rule": r["quarterly_rule"],
                "data_source": _quarter_source(monthly_values),
                "status": r["status"],
                "months_with_value": r["months_with_value"],
                "is_complete": r["is_complete"],
                "is_in_progress": progress.get(r["period"]),
                "monthly_values": monthly_values,
            }
        )
    grouped: dict[str, list] = defaultdict(list)
    for item in items:
        grouped[item["period"]].append(item)

    def block(p: dict) -> dict:
        return {
            "period": p["period"],
            "is_complete": p["is_complete"],
            "is_in_progress": p["is_in_progress"],
            "months": months[p["period"]],
            "metrics": grouped[p["period"]],
        }

    if single:
        b = block(periods[0])
        return json_response(
            {
                "period": b["period"],
                "organization_id": org_id(),
                "is_complete": b["is_complete"],
                "is_in_progress": b["is_in_progress"],
                "months": b["months"],
                "metrics": b["metrics"],
            }
        )
    return json_response(
        {
            "from": first,
            "to": last,
            "organization_id": org_id(),
            "periods": [block(p) for p in periods],
        }
    )


def smartnumbers_payload(conn, period: str | None, keys: list[str] | None) -> dict:
    quarter = parse_quarter(period) if period is not None else latest_complete(conn, "quarterly")
    p = periods_in(conn, "quarterly", quarter, quarter)[0]
    rows = conn.execute(
        SMARTNUMBERS_SQL, {"org": org_id(), "period": quarter, "keys": keys}
    ).fetchall()
    return {
        "period": quarter,
        "organization_id": org_id(),
        "months": list(p["months"] or []),
        "is_complete": p["is_complete"],
        "is_in_progress": p["is_in_progress"],
        "smartnumbers": [
            {
                "key": r["metric_key"],
                "name": r["metric_name"],
                "value": number(r["value"]),
                "unit": r["unit"],
                "category": r["category"],
                "status": r["status"],
                "qoq_change": number(r["qoq_change"]),
                "yoy_change": number(r["yoy_change"]),
                "inputs": jsonable(r["inputs"]),
                "display_order": r["display_order"],
                "is_complete": r["is_complete"],
                # a quarter in progress: the value may still change, no status colour
                "is_provisional": bool(r["is_provisional"]),
                "threshold": None
                if r["direction"] is None
                else {
                    "direction": r["direction"],
                    "green_min": number(r["green_min"]),
                    "green_max": number(r["green_max"]),
                    "yellow_min": number(r["yellow_min"]),
                    "yellow_max": number(r["yellow_max"]),
                    "origin": r["origin"],
                },
            }
            for r in rows
        ],
    }


@bp.get("/smartnumbers")
@operation(
    summary="The quarter's SmartNumbers: value, status, QoQ and YoY change, inputs",
    tag="metrics",
    response="SmartNumbers",
    params=[S.P_QUARTER, S.P_METRIC],
    cache=True,
    errors=(404,),
)
def smartnumbers(query):
    conn = get_conn()
    keys = metric_filter(conn, query["metric"])
    return json_response(smartnumbers_payload(conn, query["period"], keys))
