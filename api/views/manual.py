"""Manual metric entries: the inputs no system holds (headcount, sales activity, cash).

Every entry is a new row of qbr_app.manual_metrics (history kept); the newest
row per (period, metric) wins, and a `revert` row returns the metric to its
collected value. The marts' `metrics_monthly` view overlays the newest entry,
so an entry shows on the next read without a refresh. Overriding a value a
source collected needs `force: true` (409 otherwise, naming the metrics).
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, g
from pydantic import Field

from api import shapes as S
from api.auth import audit, org_id
from api.db import get_conn, iso, number
from api.errors import ApiError
from api.shapes import MetricRef, Month, Notes, Num, Shape, Str, Timestamp, Value
from api.spec import json_response, operation
from api.views.common import definitions, metric_filter, periods_in, resolve_metric
from qbr.periods import parse_month

bp = Blueprint("manual", __name__)


class ManualItem(Shape):
    metric: MetricRef
    value: Value
    notes: Notes = None


class ManualMetricsRequest(Shape):
    """Values for one month, entered by hand."""

    period: Month
    metrics: list[ManualItem] = Field(min_length=1, max_length=100)
    force: bool = False


class SavedValue(Shape):
    metric: str
    name: Str
    value: float
    previous_value: Num
    collected_value: Num
    notes: Str
    forced: bool
    entry_id: int


class ManualSaved(Shape):
    period: str
    organization_id: int
    saved: list[SavedValue]


class RevertedValue(Shape):
    metric: str
    value: Num
    collected_value: Num


class ManualReverted(Shape):
    period: str
    organization_id: int
    reverted: list[RevertedValue]


class ManualEntry(Shape):
    id: int
    period: str
    metric: str
    action: Literal["set", "revert"]
    value: Num
    notes: Str
    forced: bool
    entered_by: str
    created_at: Timestamp
    is_current: bool


ManualHistory = S.page_of("ManualHistory", "entries", ManualEntry)

CURRENT_SQL = """
select metric_key, value, collected_value, data_source
from qbr.metrics_monthly
where organization_id = %s and period = %s and metric_key = any(%s::text[])
"""

LATEST_MANUAL_SQL = """
select distinct on (metric_key) metric_key, action
from qbr_app.manual_metrics
where organization_id = %s and period = %s and metric_key = any(%s::text[])
order by metric_key, created_at desc, id desc
"""

HISTORY_SQL = """
select id, period, metric_key, action, value, notes, forced, entered_by, created_at,
    id = first_value(id) over (
        partition by organization_id, period, metric_key order by created_at desc, id desc
    ) as is_current,
    count(*) over () as total
from qbr_app.manual_metrics
where organization_id = %(org)s
    and (%(period)s::text is null or period = %(period)s::text)
    and (%(keys)s::text[] is null or metric_key = any(%(keys)s::text[]))
order by created_at desc, id desc
limit %(limit)s offset %(offset)s
"""


def enterable_keys(conn) -> list[str]:
    """Metrics a person may enter, read from the catalogue (seed metric_catalogue).

    Every monthly input (metric_type `input`): the manual-only ones
    (collection `manual`), the ones METRICS.md marks "else manual"
    (`collected_or_manual`: agreements, new_agreements, new_mrr, lost_mrr)
    and the collected ones (overriding a collected value needs force).
    Never a derived row or a computed SmartNumber: `metrics_monthly` only
    overlays entries on inputs, so those would be stored and then ignored.
    lost_mrr is both an input and SmartNumber 15 (S(lost_mrr)); it is
    enterable as the input.
    """
    return [k for k, d in definitions(conn).items() if d["metric_type"] == "input"]


P_PERIOD_REQUIRED = {**S.P_MONTH, "required": True, "description": "The month, YYYY-MM."}
P_METRIC_REQUIRED = {**S.P_METRIC, "required": True}


@bp.get("/metrics/manual")
@operation(
    summary="History of manual entries, newest first",
    tag="manual",
    response=ManualHistory,
    params=[
        {**S.P_MONTH, "description": "Only this month, YYYY-MM."},
        S.P_METRIC,
        *S.PAGING,
    ],
    cache=True,
    errors=(404,),
)
def history(query):
    conn = get_conn()
    params = {"org": org_id(), "period": query["period"]}
    page = S.paged(
        conn, HISTORY_SQL, {**params, "keys": metric_filter(conn, query["metric"])}, query
    )
    entries = [
        {
            "id": r["id"],
            "period": r["period"],
            "metric": r["metric_key"],
            "action": r["action"],
            "value": number(r["value"]),
            "notes": r["notes"],
            "forced": r["forced"],
            "entered_by": r["entered_by"],
            "created_at": iso(r["created_at"]),
            "is_current": r["is_current"],
        }
        for r in page.rows
    ]
    return json_response(S.page_json("entries", entries, page.total, query))


@bp.post("/metrics/manual")
@operation(
    summary="Enter monthly values by hand",
    tag="manual",
    response=ManualSaved,
    status=201,
    body=ManualMetricsRequest,
    scope="admin",
    errors=(404, 409),
    description="Values for one month. A metric a source already collected for that month "
    "is only overridden with force: true (else 409 naming it). Counts and hours may not "
    "be negative. History is kept; the newest entry wins.",
)
def post_manual(body):
    conn = get_conn()
    period = parse_month(body["period"], "period")
    periods_in(conn, "monthly", period, period)
    valid = enterable_keys(conn)
    entries: list[tuple[dict, dict]] = []
    seen: set[str] = set()
    for item in body["metrics"]:
        d = resolve_metric(conn, item["metric"], valid)
        key = d["metric_key"]
        if key in seen:
            raise ApiError(400, "DUPLICATE_METRIC", f"{key} is given twice.", metrics=[key])
        seen.add(key)
        if item["value"] < 0 and not d["allows_negative"]:
            raise ApiError(
                400,
                "NEGATIVE_VALUE",
                f"{key} is a {d['unit']} value and cannot be negative ({item['value']}).",
                metrics=[key],
            )
        entries.append((d, item))
    keys = [d["metric_key"] for d, _ in entries]
    current = {r["metric_key"]: r for r in conn.execute(CURRENT_SQL, (org_id(), period, keys))}
    collected = [k for k in keys if k in current and current[k]["collected_value"] is not None]
    force = bool(body.get("force", False))
    if collected and not force:
        named = ", ".join(f"{k} ({number(current[k]['collected_value'])})" for k in collected)
        raise ApiError(
            409,
            "COLLECTED_VALUE",
            f"{period}: a source already collected {named}; send force: true to override.",
            metrics=collected,
        )
    saved = []
    with conn.transaction():
        for d, item in entries:
            key = d["metric_key"]
            row = conn.execute(
                "insert into qbr_app.manual_metrics "
                "(organization_id, period, metric_key, action, value, notes, forced, entered_by) "
                "values (%s, %s, %s, 'set', %s, %s, %s, %s) returning id",
                (
                    org_id(),
                    period,
                    key,
                    item["value"],
                    item.get("notes"),
                    key in collected,
                    g.principal["name"],
                ),
            ).fetchone()
            before = current.get(key, {})
            saved.append(
                {
                    "metric": key,
                    "name": d["metric_name"],
                    "value": item["value"],
                    "previous_value": number(before.get("value")),
                    "collected_value": number(before.get("collected_value")),
                    "notes": item.get("notes"),
                    "forced": key in collected,
                    "entry_id": row["id"],
                }
            )
        audit(
            "manual.set",
            period,
            {
                "metrics": {s["metric"]: s["value"] for s in saved},
                "forced": [s["metric"] for s in saved if s["forced"]],
            },
        )
    return json_response({"period": period, "organization_id": org_id(), "saved": saved}, 201)


@bp.delete("/metrics/manual")
@operation(
    summary="Revert manual entries to the collected value",
    tag="manual",
    response=ManualReverted,
    scope="admin",
    params=[P_PERIOD_REQUIRED, P_METRIC_REQUIRED],
    errors=(404,),
    description="Adds a revert entry (history kept); the metric shows its collected value "
    "again, or null where no source collects it.",
)
def delete_manual(query):
    conn = get_conn()
    period = parse_month(query["period"], "period")
    keys = metric_filter(conn, query["metric"])
    latest = {
        r["metric_key"]: r["action"]
        for r in conn.execute(LATEST_MANUAL_SQL, (org_id(), period, keys))
    }
    missing = [k for k in keys if latest.get(k) != "set"]
    if missing:
        raise ApiError(
            404,
            "NO_MANUAL_VALUE",
            f"{period}: no manual value in effect for {', '.join(missing)}.",
            metrics=missing,
        )
    with conn.transaction():
        for key in keys:
            conn.execute(
                "insert into qbr_app.manual_metrics "
                "(organization_id, period, metric_key, action, entered_by) "
                "values (%s, %s, %s, 'revert', %s)",
                (org_id(), period, key, g.principal["name"]),
            )
        audit("manual.revert", period, {"metrics": keys})
    current = {r["metric_key"]: r for r in conn.execute(CURRENT_SQL, (org_id(), period, keys))}
    return json_response(
        {
            "period": period,
            "organization_id": org_id(),
            "reverted": [
                {
                    "metric": k,
                    "value": number(current.get(k, {}).get("value")),
                    "collected_value": number(current.get(k, {}).get("collected_value")),
                }
                for k in keys
            ],
        }
    )
