"""Clients (ConnectWise companies with their matches) and per-client drill-down."""

from __future__ import annotations

from flask import Blueprint

from api import shapes as S
from api.auth import org_id
from api.db import get_conn
from api.shapes import Bool, Shape, Str
from api.spec import json_response, operation
from api.views.common import jsonable
from api.views.metrics import MetricsMonthly, monthly_payload

bp = Blueprint("clients", __name__)


class Client(Shape):
    """A ConnectWise company and how it was matched in NinjaOne and QuickBooks."""

    client_id: int | str
    client_name: Str
    identifier: Str
    ninja_organization: Str
    quickbooks_customer: Str
    match_status: Str
    is_internal: Bool


ClientList = S.page_of("ClientList", "clients", Client)

CLIENTS_SQL = """
select client_id, client_name, identifier, ninja_organization, quickbooks_customer,
    match_status, is_internal, count(*) over () as total
from qbr.clients
where organization_id = %(org)s
    and (%(internal)s or not coalesce(is_internal, false))
    and (%(match)s::text is null or match_status = %(match)s::text)
order by client_name, client_id limit %(limit)s offset %(offset)s
"""

P_INTERNAL = S.query(
    "include_internal",
    {"type": "boolean", "default": False},
    "Also list internal organizations (the MSP itself), excluded from client metrics.",
)
P_MATCH = S.query(
    "match_status",
    {"type": "string", "minLength": 1, "maxLength": 50},
    "Only clients with this match status (e.g. matched, unmatched).",
)


@bp.get("/clients")
@operation(
    summary="Clients and how they were matched across ConnectWise, NinjaOne and QuickBooks",
    tag="clients",
    response=ClientList,
    params=[P_INTERNAL, P_MATCH, *S.PAGING],
    cache=True,
)
def clients(query):
    params = {
        "org": org_id(),
        "internal": query["include_internal"],
        "match": query["match_status"],
    }
    page = S.paged(get_conn(), CLIENTS_SQL, params, query)
    items = [jsonable(S.without_total(r)) for r in page.rows]
    return json_response(S.page_json("clients", items, page.total, query))


@bp.get("/clients/<client_id>/metrics")
@operation(
    summary="One client's monthly metrics (endpoints, seats, tickets, hours, MRR…)",
    tag="clients",
    response=MetricsMonthly,
    params=[
        S.path("client_id", {"type": "string", "maxLength": 100}, "The client's id."),
        S.P_MONTH,
        S.P_FROM_MONTH,
        S.P_TO_MONTH,
        S.P_METRIC,
        S.P_SOURCE,
    ],
    cache=True,
    errors=(404,),
)
def client_metrics(client_id, query):
    return json_response(monthly_payload(get_conn(), query, client_id))
