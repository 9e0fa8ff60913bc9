"""Thresholds: the defaults (dbt seed) overridden per metric through the API.

Two write forms. The band form stores the bands as given. The short form
`{"metric", "warning", "critical"}` reads: green until the warning level,
yellow until the critical level, red beyond. For higher_is_better
(warning >= critical) that is green_min = warning, yellow_min = critical;
for lower_is_better (warning <= critical) green_max = warning,
yellow_max = critical. The direction is the body's, else the metric's current
one, else the order of warning and critical; an in_range metric needs the
band form. The colour itself is computed by `qbr_app.threshold_status`.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from flask import Blueprint, g
from pydantic import Field

from api import shapes as S
from api.auth import audit, org_id
from api.db import get_conn, iso
from api.errors import ApiError
from api.shapes import Bound, Direction, MetricRef, Notes, Num, Shape, Str, Timestamp
from api.spec import json_response, operation
from api.views.common import resolve_metric

bp = Blueprint("thresholds", __name__)


class Threshold(Shape):
    """A metric's effective threshold: the default (seed) or the custom one."""

    metric: str
    name: Str
    direction: Direction
    green_min: Num
    green_max: Num
    yellow_min: Num
    yellow_max: Num
    origin: Literal["default", "custom"]
    notes: Str
    updated_by: Str
    updated_at: Timestamp


ThresholdList = S.page_of("ThresholdList", "thresholds", Threshold)


class ThresholdBandInput(Shape):
    """Bands as stored. higher_is_better: green from green_min up, yellow from yellow_min
    up; lower_is_better: green up to green_max, yellow up to yellow_max; in_range: green
    within [green_min, green_max], yellow within [yellow_min, yellow_max] (a null bound
    is open); everything else red."""

    metric: MetricRef
    direction: Direction
    green_min: Bound = None
    green_max: Bound = None
    yellow_min: Bound = None
    yellow_max: Bound = None
    notes: Notes = None


class ThresholdShortInput(Shape):
    """warning is where green ends, critical where yellow ends. higher_is_better (warning
    >= critical): green >= warning, yellow >= critical, red below (stored as
    green_min=warning, yellow_min=critical). lower_is_better (warning <= critical): green
    <= warning, yellow <= critical, red above (stored as green_max=warning,
    yellow_max=critical). Direction: as given, else the metric's, else from the order of
    warning and critical."""

    metric: MetricRef
    warning: float = Field(ge=-1e15, le=1e15)
    critical: float = Field(ge=-1e15, le=1e15)
    direction: Literal["higher_is_better", "lower_is_better"] = None
    notes: Notes = None


class ThresholdBandPut(ThresholdBandInput):
    metric: MetricRef = None


class ThresholdShortPut(ThresholdShortInput):
    metric: MetricRef = None


ThresholdWrite = S.one_of("ThresholdWrite", ThresholdBandInput, ThresholdShortInput)
ThresholdPut = S.one_of(
    "ThresholdPut",
    ThresholdBandPut,
    ThresholdShortPut,
    description="As ThresholdWrite; `metric` may be left out and must match the path if given.",
)


class ThresholdSaved(Shape):
    threshold: Threshold
    created: bool


class ThresholdDeleted(Shape):
    metric: str
    deleted: bool
    threshold: Threshold | None


P_METRIC_PATH = S.path(
    "metric",
    {"type": "string", "minLength": 1, "maxLength": 200},
    "Metric key or name.",
)

LIST_SQL = """
select t.metric_key, d.metric_name, t.direction, t.green_min, t.green_max, t.yellow_min,
    t.yellow_max, t.origin, c.notes, c.updated_by, c.updated_at,
    count(*) over () as total
from qbr.thresholds_effective as t
left join qbr.metric_definitions as d on d.metric_key = t.metric_key
left join qbr_app.thresholds as c
    on c.organization_id = t.organization_id and c.metric_key = t.metric_key
where t.organization_id = %(org)s and (%(key)s::text is null or t.metric_key = %(key)s::text)
order by d.display_order nulls last, t.metric_key
limit %(limit)s offset %(offset)s
"""


def threshold_json(r: dict) -> dict:
    return {
        "metric": r["metric_key"],
        "name": r["metric_name"],
        **S.band_json(r),
        "notes": r["notes"],
        "updated_by": r["updated_by"],
        "updated_at": iso(r["updated_at"]),
    }


def effective(conn: psycopg.Connection, key: str) -> dict | None:
    row = conn.execute(LIST_SQL, {"org": org_id(), "key": key, "limit": 1, "offset": 0}).fetchone()
    return threshold_json(row) if row else None


@bp.get("/thresholds")
@operation(
    summary="Effective thresholds (defaults and custom overrides)",
    tag="thresholds",
    response=ThresholdList,
    params=list(S.PAGING),
    cache=True,
)
def list_thresholds(query):
    page = S.paged(get_conn(), LIST_SQL, {"org": org_id(), "key": None}, query)
    items = [threshold_json(r) for r in page.rows]
    return json_response(S.page_json("thresholds", items, page.total, query))


@bp.get("/thresholds/<metric>")
@operation(
    summary="One metric's effective threshold",
    tag="thresholds",
    response=Threshold,
    params=[P_METRIC_PATH],
    cache=True,
    errors=(404,),
)
def get_threshold(metric):
    conn = get_conn()
    key = resolve_metric(conn, metric)["metric_key"]
    found = effective(conn, key)
    if found is None:
        raise ApiError(404, "THRESHOLD_NOT_FOUND", f"{key} has no threshold.")
    return json_response(found)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_THRESHOLD", message)


def _check_bands(key: str, b: dict) -> None:
    direction = b["direction"]
    gmin, gmax, ymin, ymax = b["green_min"], b["green_max"], b["yellow_min"], b["yellow_max"]
    if gmin is not None and gmax is not None and gmin > gmax:
        raise _invalid(f"{key}: green_min ({gmin}) is above green_max ({gmax}).")
    if ymin is not None and ymax is not None and ymin > ymax:
        raise _invalid(f"{key}: yellow_min ({ymin}) is above yellow_max ({ymax}).")
    if direction == "higher_is_better" and gmin is None:
        raise _invalid(f"{key}: higher_is_better needs green_min (green from there up).")
    if direction == "lower_is_better" and gmax is None:
        raise _invalid(f"{key}: lower_is_better needs green_max (green up to there).")
    if gmin is None and gmax is None:
        raise _invalid(f"{key}: give at least one green bound.")
    if ymin is not None and gmin is not None and ymin > gmin:
        raise _invalid(f"{key}: yellow_min ({ymin}) must not be above green_min ({gmin}).")
    if ymax is not None and gmax is not None and ymax < gmax:
        raise _invalid(f"{key}: yellow_max ({ymax}) must not be below green_max ({gmax}).")


def bands_from(conn: psycopg.Connection, definition: dict, body: dict) -> dict:
    """The stored bands for a body in either form (see the module docstring)."""
    key = definition["metric_key"]
    if "warning" not in body:
        bands = {
            "direction": body["direction"],
            **{k: body.get(k) for k in S.BANDS},
        }
        _check_bands(key, bands)
        return bands
    warning, critical = body["warning"], body["critical"]
    direction = body.get("direction")
    if direction is None:
        current = effective(conn, key)
        known = (current or {}).get("direction") or definition.get("direction") or None
        if known == "in_range":
            raise _invalid(
                f"{key} is an in_range metric: send the band form "
                "(direction, green_min, green_max, yellow_min, yellow_max)."
            )
        if known is not None:
            direction = known
        elif warning != critical:
            direction = "higher_is_better" if warning > critical else "lower_is_better"
        else:
            raise _invalid(f"{key}: warning equals critical; say which direction is better.")
    if direction == "higher_is_better":
        if warning < critical:
            raise _invalid(
                f"{key} is higher_is_better: warning ({warning}) must be at or above "
                f"critical ({critical})."
            )
        return {
            "direction": direction,
            "green_min": warning,
            "green_max": None,
            "yellow_min": critical,
            "yellow_max": None,
        }
    if warning > critical:
        raise _invalid(
            f"{key} is lower_is_better: warning ({warning}) must be at or below "
            f"critical ({critical})."
        )
    return {
        "direction": direction,
        "green_min": None,
        "green_max": warning,
        "yellow_min": None,
        "yellow_max": critical,
    }


UPSERT_SQL = """
insert into qbr_app.thresholds
    (organization_id, metric_key, direction, green_min, green_max, yellow_min, yellow_max,
     notes, updated_by)
values (%(org)s, %(key)s, %(direction)s, %(green_min)s, %(green_max)s, %(yellow_min)s,
    %(yellow_max)s, %(notes)s, %(by)s)
on conflict (organization_id, metric_key) do update set
    direction = excluded.direction,
    green_min = excluded.green_min,
    green_max = excluded.green_max,
    yellow_min = excluded.yellow_min,
    yellow_max = excluded.yellow_max,
    notes = excluded.notes,
    updated_by = excluded.updated_by,
    updated_at = now()
returning metric_key, direction, green_min, green_max, yellow_min, yellow_max, notes,
    updated_by, updated_at, (xmax = 0) as created
"""


def save(definition: dict, body: dict):
    conn = get_conn()
    bands = bands_from(conn, definition, body)
    key = definition["metric_key"]
    with conn.transaction():
        row = conn.execute(
            UPSERT_SQL,
            {
                "org": org_id(),
                "key": key,
                **bands,
                "notes": body.get("notes"),
                "by": g.principal["name"],
            },
        ).fetchone()
        audit(
            "threshold.set",
            key,
            {"request": body, "stored": bands},
        )
    # Answer with the effective threshold, as GET shows it (the marts may derive
    # yellow bounds that were not given; qbr.thresholds_effective reads qbr_app live).
    return json_response(
        {"threshold": effective(conn, key), "created": row["created"]},
        201 if row["created"] else 200,
    )


@bp.post("/thresholds")
@operation(
    summary="Set a metric's threshold (band form or warning/critical short form)",
    tag="thresholds",
    response=ThresholdSaved,
    status=201,
    alt_status=(200,),
    body=ThresholdWrite,
    scope="admin",
    errors=(404,),
    description="201 when the metric had no custom threshold, 200 when one was replaced. "
    "The metric is given by key or by name.",
)
def post_threshold(body):
    return save(resolve_metric(get_conn(), body["metric"]), body)


@bp.put("/thresholds/<metric>")
@operation(
    summary="Replace a metric's threshold",
    tag="thresholds",
    response=ThresholdSaved,
    body=ThresholdPut,
    scope="admin",
    params=[P_METRIC_PATH],
    errors=(404,),
)
def put_threshold(metric, body):
    conn = get_conn()
    definition = resolve_metric(conn, metric)
    if "metric" in body and resolve_metric(conn, body["metric"]) is not definition:
        raise ApiError(
            400,
            "METRIC_MISMATCH",
            f"The body's metric {body['metric']!r} is not the path's {metric!r}.",
        )
    resp = save(definition, body)
    resp.status_code = 200
    return resp


@bp.delete("/thresholds/<metric>")
@operation(
    summary="Remove a metric's custom threshold (back to the default)",
    tag="thresholds",
    response=ThresholdDeleted,
    scope="admin",
    params=[P_METRIC_PATH],
    errors=(404,),
)
def delete_threshold(metric):
    conn = get_conn()
    key = resolve_metric(conn, metric)["metric_key"]
    with conn.transaction():
        cur = conn.execute(
            "delete from qbr_app.thresholds where organization_id = %s and metric_key = %s",
            (org_id(), key),
        )
        if cur.rowcount == 0:
            raise ApiError(
                404,
                "THRESHOLD_NOT_FOUND",
                f"{key} has no custom threshold to remove (defaults cannot be deleted).",
            )
        audit("threshold.delete", key)
    return json_response({"metric": key, "deleted": True, "threshold": effective(conn, key)})
