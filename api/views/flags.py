"""Anomaly flags (dbt's qbr.data_quality_flags) with their state; acknowledging one.

A flag is raised once (the refresh that first saw it marks it `new`), then
`carried` by later refreshes until a person acknowledges it here; see
qbr/flags.py. Only flags the latest build still produces are listed.
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, g

from api import shapes as S
from api.auth import audit, org_id
from api.db import get_conn
from api.errors import ApiError
from api.shapes import Shape, Str, Timestamp
from api.spec import json_response, operation
from api.views.common import jsonable

bp = Blueprint("flags", __name__)


class Flag(Shape):
    """A data-quality flag of the latest build, with its state."""

    flag_id: str
    period: Str
    metric_key: Str
    flag: str
    severity: Literal["info", "warning", "error"]
    subject: Str
    message: str
    first_raised_at: Timestamp
    first_raised_batch: Str
    acknowledged_at: Timestamp
    acknowledged_by: Str


FlagList = S.page_of("FlagList", "flags", Flag)

P_STATE = S.query(
    "state",
    {"type": "string", "enum": ["open", "all", "acknowledged"], "default": "open"},
    "open (not acknowledged, the default), acknowledged, or all.",
)
P_FLAG_ID = S.path("flag_id", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, "The flag's id.")

FLAGS_SQL = """
select f.flag_id, f.period, f.metric_key, f.flag, f.severity, f.subject, f.message,
    s.first_raised_at, s.first_raised_batch, s.acknowledged_at, s.acknowledged_by,
    count(*) over () as total
from qbr.data_quality_flags as f
left join qbr_app.data_quality_flag_state as s on s.flag_id = f.flag_id
where f.organization_id = %(org)s
    and (%(state)s = 'all'
         or (%(state)s = 'open' and s.acknowledged_at is null)
         or (%(state)s = 'acknowledged' and s.acknowledged_at is not null))
    and (%(flag_id)s::text is null or f.flag_id = %(flag_id)s::text)
order by f.period desc, f.flag, f.subject nulls first
limit %(limit)s offset %(offset)s
"""


def _flag(row: dict) -> dict:
    return jsonable(S.without_total(row))


@bp.get("/flags")
@operation(
    summary="Data-quality flags of the latest build, with when each was first raised",
    tag="flags",
    response=FlagList,
    params=[P_STATE, *S.PAGING],
)
def flags(query):
    params = {"org": org_id(), "state": query["state"], "flag_id": None}
    page = S.paged(get_conn(), FLAGS_SQL, params, query)
    return json_response(S.page_json("flags", [_flag(r) for r in page.rows], page.total, query))


@bp.post("/flags/<flag_id>/acknowledge")
@operation(
    summary="Acknowledge a flag: later refreshes carry it silently",
    tag="flags",
    response=Flag,
    params=[P_FLAG_ID],
    scope="admin",
    errors=(404,),
)
def acknowledge(flag_id):
    conn = get_conn()
    args = {"org": org_id(), "state": "all", "flag_id": flag_id, "limit": 1, "offset": 0}
    if not conn.execute(FLAGS_SQL, args).fetchone():
        raise ApiError(404, "FLAG_NOT_FOUND", f"No current flag {flag_id}.")
    with conn.transaction():
        updated = conn.execute(
            "update qbr_app.data_quality_flag_state set acknowledged_at = now(), "
            "acknowledged_by = %s where flag_id = %s and acknowledged_at is null",
            (g.principal["name"], flag_id),
        ).rowcount
        if updated:
            audit("flag.acknowledge", flag_id)
    row = conn.execute(FLAGS_SQL, args).fetchone()
    return json_response(_flag(row))
