"""Monthly and quarterly metric values and the SmartNumbers."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

import orjson
import psycopg
from flask import Blueprint
from pydantic import Field

from api import shapes as S
from api.auth import org_id
from api.db import get_conn, number
from api.errors import ApiError
from api.shapes import Bool, JsonObject, Num, Shape, Status, Str, ThresholdBand, Timestamp
from api.spec import json_response, operation
from api.views.common import (
    jsonable,
    latest_complete,
    metric_filter,
    periods_in,
    source_filter,
)
from qbr.periods import parse_quarter, parse_range

bp = Blueprint("metrics", __name__)


# --- shapes ---------------------------------------------------------------------------


class MetricIdentity(Shape):
    """What every metric value carries, monthly or quarterly (the fields the MSP's
    existing dashboard code reads: name / value / source)."""

    key: str
    name: Str
    period: str
    value: Num
    unit: Str
    category: Str
    source: Str


class MetricValue(MetricIdentity):
    """One metric in one month."""

    data_source: Literal["collected", "manual"] | None
    collected_value: Num
    manual_value: Num
    status: Status
    is_complete: Bool
    is_in_progress: Bool
    coverage: Any = Field(description="The mart's coverage value, passed through.")
    updated_at: Timestamp


class ClientRef(Shape):
    client_id: int | str
    client_name: Str


class MonthOfMetrics(Shape):
    """One month of the organization's (or a client's) metrics."""

    period: str
    organization_id: int
    is_complete: Bool
    is_in_progress: Bool
    client: ClientRef = None
    metrics: list[MetricValue]


class MonthBlock(Shape):
    period: str
    is_complete: Bool
    is_in_progress: Bool
    metrics: list[MetricValue]


class MonthRange(Shape):
    """A range of months (`from`/`to`), one block per month."""

    from_: str = Field(alias="from")
    to: str
    organization_id: int
    client: ClientRef = None
    periods: list[MonthBlock]


MetricsMonthly = S.one_of("MetricsMonthly", MonthOfMetrics, MonthRange)


class MonthlyPart(Shape):
    period: str
    value: Num
    data_source: Literal["collected", "manual"] | None


class QuarterlyMetric(MetricIdentity):
    """One metric in one quarter, by its quarterly rule, with the months it was made from."""

    quarterly_rule: Str
    data_source: Literal["collected", "manual", "mixed"] | None = Field(
        description="manual/mixed when all/some of the months with a value were entered by hand"
    )
    status: Status
    months_with_value: int | None
    is_complete: Bool
    is_in_progress: Bool
    monthly_values: list[MonthlyPart]


class QuarterBlock(Shape):
    period: str
    is_complete: Bool
    is_in_progress: Bool
    months: list[str]
    metrics: list[QuarterlyMetric]


class QuarterOfMetrics(Shape):
    period: str
    organization_id: int
    is_complete: Bool
    is_in_progress: Bool
    months: list[str]
    metrics: list[QuarterlyMetric]


class QuarterRange(Shape):
    from_: str = Field(alias="from")
    to: str
    organization_id: int
    periods: list[QuarterBlock]


MetricsQuarterly = S.one_of("MetricsQuarterly", QuarterOfMetrics, QuarterRange)


class SmartNumber(Shape):
    key: str
    name: Str
    value: Num
    unit: Str
    category: Str
    status: Status
    qoq_change: Num
    yoy_change: Num
    inputs: JsonObject | None
    display_order: int | None
    is_complete: Bool
    is_provisional: bool = Field(
        description="The quarter is in progress: per-month figures divide by the "
        "months that have data, the value may still change, and status is null."
    )
    threshold: ThresholdBand | None


class SmartNumbers(Shape):
    period: str
    organization_id: int
    months: list[str]
    is_complete: Bool
    is_in_progress: Bool
    smartnumbers: list[SmartNumber]


P_CLIENT = S.query(
    "client",
    {"type": "string", "minLength": 1, "maxLength": 100},
    "A client id: that client's metrics instead of the organization's.",
)

# --- queries --------------------------------------------------------------------------


# The monthly items are built as JSON by PostgreSQL, one array per month in display
# order, and written into the response as they are (orjson.Fragment): a 36-month
# answer (1,260 items at large) costs no per-row Python. Reading the rows into dicts
# and serializing them took 2.2 ms of a worker's CPU (its GIL) per request; this
# 0.5 ms. Numbers are float8 (an integral value reads 80: the same JSON number), NaN
# and infinities null (JSON has none), times ISO 8601 as psycopg and orjson wrote them.
def _finite(column: str) -> str:
    return f"nullif(nullif(nullif({column}::float8, 'NaN'), 'Infinity'), '-Infinity')"


ITEM_FIELDS = (
    "key, name, period, value, unit, category, source, data_source, collected_value, "
    "manual_value, status, is_complete, is_in_progress, coverage, updated_at"
)

# {inner}: a select of `period`, `ord` (display order) and ITEM_FIELDS
ITEMS_BY_MONTH_SQL = (
    """
select x.period, json_agg(i order by x.ord nulls last, x.key)::text as items
from ({inner}) as x
cross join lateral (select """
    + ", ".join(f"x.{f}" for f in ITEM_FIELDS.split(", "))
    + """) as i
group by x.period
"""
)

MONTHLY_SQL = ITEMS_BY_MONTH_SQL.replace(
    "{inner}",
    f"""
select m.period, d.display_order as ord, m.metric_key as key, m.metric_name as name,
    {_finite("m.value")} as value, m.unit, m.category, m.source, m.data_source,
    {_finite("m.collected_value")} as collected_value,
    {_finite("m.manual_value")} as manual_value, m.status, m.is_complete,
    m.is_in_progress, m.coverage, m.updated_at
from qbr.metrics_monthly as m
left join qbr.metric_definitions as d on d.metric_key = m.metric_key
where m.organization_id = %(org)s
    and m.period between %(first)s and %(last)s
{{filters}}
""",
)

# A client's months (qbr.client_metrics_monthly, long form like metrics_monthly): values
# as a source collected them, no manual overlay, no status.
CLIENT_SQL = ITEMS_BY_MONTH_SQL.replace(
    "{inner}",
    f"""
select c.period, d.display_order as ord, c.metric_key as key, c.metric_name as name,
    {_finite("c.value")} as value, c.unit, c.category, c.source,
    'collected'::text as data_source, {_finite("c.value")} as collected_value,
    null::float8 as manual_value, null::text as status, p.is_complete, p.is_in_progress,
    null::text as coverage, null::timestamptz as updated_at
from qbr.client_metrics_monthly as c
inner join qbr.periods as p
    on p.organization_id = c.organization_id and p.period = c.period
left join qbr.metric_definitions as d on d.metric_key = c.metric_key
where c.organization_id = %(org)s and c.client_id::text = %(client)s
    and c.period between %(first)s and %(last)s
{{filters}}
""",
)

# data_source (collected / manual / mixed) and status are the mart's (dbt: one rule each)
QUARTERLY_SQL = """
select q.period, q.metric_key, q.metric_name, q.value, q.unit, q.category, q.source,
    q.quarterly_rule, q.data_source, q.status, q.months_with_value, q.is_complete
from qbr.metrics_quarterly as q
left join qbr.metric_definitions as d on d.metric_key = q.metric_key
where q.organization_id = %(org)s
    and q.period between %(first)s and %(last)s
{filters}
order by q.period, d.display_order nulls last, q.metric_key
"""

MONTHLY_PARTS_SQL = """
select period, metric_key, value, data_source
from qbr.metrics_monthly
where organization_id = %(org)s and period = any(%(months)s::text[])
{filters}
"""

SMARTNUMBERS_SQL = """
select s.metric_key, s.metric_name, s.value, s.unit, s.category, s.status, s.qoq_change,
    s.yoy_change, s.inputs, s.display_order, s.is_complete, s.is_provisional,
    t.direction, t.green_min, t.green_max, t.yellow_min, t.yellow_max, t.origin
from qbr.smartnumbers as s
left join qbr.thresholds_effective as t
    on t.organization_id = s.organization_id and t.metric_key = s.metric_key
where s.organization_id = %(org)s and s.period = %(period)s
{filters}
order by s.display_order nulls last, s.metric_key
"""


def filtered(sql: str, alias: str, keys: list[str] | None, source: str | None = None) -> str:
    """`sql` with the optional filters written in only when given (one statement text per
    combination). A catch-all `(%(keys)s is null or ...)` let the generic plan PostgreSQL
    keeps for a prepared statement (psycopg prepares one after its fifth run on a
    connection) recompute the metrics_monthly view once per metric definition: 100 ms
    for 36 months where the plan for the actual filters takes 7 ms."""
    parts = []
    if keys is not None:
        parts.append(f"    and {alias}metric_key = any(%(keys)s::text[])")
    if source is not None:
        parts.append(f"    and lower({alias}source) = %(source)s::text")
    return sql.replace("{filters}", "\n".join(parts))


# --- builders --------------------------------------------------------------------------


def _grouped(items: list[dict]) -> dict[str, list]:
    grouped: dict[str, list] = defaultdict(list)
    for item in items:
        grouped[item["period"]].append(item)
    return grouped


def _block(p: dict, metrics: list, **extra) -> dict:
    return {
        "period": p["period"],
        "is_complete": p["is_complete"],
        "is_in_progress": p["is_in_progress"],
        **extra,
        "metrics": metrics,
    }


def _answer(periods: list[dict], items: list[dict], single: bool, head: dict, **per) -> dict:
    """One period (`period`, its flags, `metrics`) or a range (`periods`: one block each);
    `per` maps a block field to a function of the period row (quarters' `months`)."""
    grouped = _grouped(items)
    blocks = [_block(p, grouped[p["period"]], **{k: f(p) for k, f in per.items()}) for p in periods]
    if single:
        b = blocks[0]
        return {"period": b.pop("period"), **head, **b}
    return {**head, "periods": blocks}


def client_row(conn: psycopg.Connection, client_id: str) -> dict:
    row = conn.execute(
        "select client_id, client_name from qbr.clients "
        "where organization_id = %s and client_id::text = %s",
        (org_id(), client_id),
    ).fetchone()
    if row is None:
        raise ApiError(404, "CLIENT_NOT_FOUND", f"No client with id {client_id!r}.")
    return row


def _range(conn, query: dict, period_type: str) -> tuple[str, str, bool]:
    quarterly = period_type == "quarterly"
    given = parse_range(query["period"], query["from"], query["to"], quarterly=quarterly)
    if given is None:
        latest = latest_complete(conn, period_type)
        given = (latest, latest)
    return given[0], given[1], query["from"] is None


def monthly_payload(conn, query: dict, client_id: str | None) -> dict:
    first, last, single = _range(conn, query, "monthly")
    params = {
        "org": org_id(),
        "first": first,
        "last": last,
        "keys": metric_filter(conn, query["metric"]),
        "source": source_filter(conn, query["source"]),
        "client": client_id,
    }
    head: dict = {"organization_id": org_id()}
    if client_id is not None:
        client = client_row(conn, client_id)
        head["client"] = {"client_id": client["client_id"], "client_name": client["client_name"]}
    periods = periods_in(conn, "monthly", first, last)
    if client_id is None:
        sql = filtered(MONTHLY_SQL, "m.", params["keys"], params["source"])
    else:
        sql = filtered(CLIENT_SQL, "c.", params["keys"], params["source"])
    months = {
        r["period"]: orjson.Fragment(r["items"]) for r in conn.execute(sql, params).fetchall()
    }
    blocks = [_block(p, months.get(p["period"], [])) for p in periods]
    if single:
        b = blocks[0]
        return {"period": b.pop("period"), **head, **b}
    return {"from": first, "to": last, **head, "periods": blocks}


@bp.get("/metrics/monthly")
@operation(
    summary="Monthly metric values (one month or a range)",
    tag="metrics",
    response=MetricsMonthly,
    params=[S.P_MONTH, S.P_FROM_MONTH, S.P_TO_MONTH, S.P_METRIC, S.P_SOURCE, P_CLIENT],
    cache=True,
    errors=(404,),
    description="Each value carries its source, data_source (collected or manual), threshold "
    "status and the in-progress flag of its month. With `client`, that client's metrics.",
)
def monthly(query):
    return json_response(monthly_payload(get_conn(), query, query["client"]))


@bp.get("/metrics/quarterly")
@operation(
    summary="Quarterly metric values with their monthly parts",
    tag="metrics",
    response=MetricsQuarterly,
    params=[S.P_QUARTER, S.P_FROM_QUARTER, S.P_TO_QUARTER, S.P_METRIC, S.P_SOURCE],
    cache=True,
    errors=(404,),
    description="The quarter's value by the metric's quarterly rule (sum, avg, last, ratio "
    "of sums), its threshold status and the monthly values it was made from.",
)
def quarterly(query):
    conn = get_conn()
    first, last, single = _range(conn, query, "quarterly")
    keys = metric_filter(conn, query["metric"])
    source = source_filter(conn, query["source"])
    periods = periods_in(conn, "quarterly", first, last)
    params = {"org": org_id(), "first": first, "last": last, "keys": keys, "source": source}
    rows = conn.execute(filtered(QUARTERLY_SQL, "q.", keys, source), params).fetchall()
    months = {p["period"]: list(p["months"] or []) for p in periods}
    parts = {
        (r["metric_key"], r["period"]): {
            "period": r["period"],
            "value": number(r["value"]),
            "data_source": r["data_source"],
        }
        for r in conn.execute(
            filtered(MONTHLY_PARTS_SQL, "", keys),
            {"org": org_id(), "months": [m for ms in months.values() for m in ms], "keys": keys},
        )
    }
    progress = {p["period"]: p["is_in_progress"] for p in periods}
    items = [
        {
            "key": r["metric_key"],
            "name": r["metric_name"],
            "period": r["period"],
            "value": number(r["value"]),
            "unit": r["unit"],
            "category": r["category"],
            "source": r["source"],
            "quarterly_rule": r["quarterly_rule"],
            "data_source": r["data_source"],
            "status": r["status"],
            "months_with_value": r["months_with_value"],
            "is_complete": r["is_complete"],
            "is_in_progress": progress.get(r["period"]),
            "monthly_values": [
                parts.get((r["metric_key"], m), {"period": m, "value": None, "data_source": None})
                for m in months[r["period"]]
            ],
        }
        for r in rows
    ]
    head: dict = {"organization_id": org_id()}
    if not single:
        head = {"from": first, "to": last, **head}
    return json_response(
        _answer(periods, items, single, head, months=lambda p: months[p["period"]])
    )


def smartnumbers_payload(conn, period: str | None, keys: list[str] | None) -> dict:
    quarter = parse_quarter(period) if period is not None else latest_complete(conn, "quarterly")
    p = periods_in(conn, "quarterly", quarter, quarter)[0]
    rows = conn.execute(
        filtered(SMARTNUMBERS_SQL, "s.", keys), {"org": org_id(), "period": quarter, "keys": keys}
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
                "threshold": S.band_json(r),
            }
            for r in rows
        ],
    }


@bp.get("/smartnumbers")
@operation(
    summary="The quarter's SmartNumbers: value, status, QoQ and YoY change, inputs",
    tag="metrics",
    response=SmartNumbers,
    params=[S.P_QUARTER, S.P_METRIC],
    cache=True,
    errors=(404,),
)
def smartnumbers(query):
    conn = get_conn()
    keys = metric_filter(conn, query["metric"])
    return json_response(smartnumbers_payload(conn, query["period"], keys))
