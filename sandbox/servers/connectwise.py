"""ConnectWise PSA (Manage) REST API imitation: `/v4_6_release/apis/3.0/...`.
`SERVER` is its entry in `sandbox.servers.SERVERS`."""

from __future__ import annotations

import base64
import math
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Flask, Response, request

from sandbox.servers.base import Controller, Server
from sandbox.servers.common import (
    MISSING,
    SharedState,
    drop_socket,
    dumps,
    get_path,
    json_response,
    malformed_copies,
    truncated_response,
)
from sandbox.servers.conditions import INFO_ALIASES, ConditionsError, compile_conditions, resolve
from sandbox.servers.cw_shapes import on_wire
from sandbox.servers.qbo_query import sort_key

SOURCE = "connectwise"
CODEBASE = "v4_6_release/"
API_ROOT = f"/{CODEBASE}apis/3.0/"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000

DEFAULT_CREDENTIALS = {
    "company_id": "qbrsandbox",
    "public_key": "SandboxPublicKey01",
    "private_key": "SandboxPrivateKey01",
    "client_id": "6f1c2d3e-4b5a-4978-8a9b-0c1d2e3f4a5b",
}

_COMMON = ("id", "_info")
_TICKET = (
    "summary recordType board status type subType item company contact contactName "
    "contactEmailAddress site siteName priority source team owner agreement location "
    "department severity impact parentTicketId hasChildTicket closedDate closedBy "
    "closedFlag actualHours budgetHours dateResolved dateResponded dateEnteredUtc "
    "requiredDate isInSla sla customFields initialDescription resources project phase"
)


class Endpoint:
    def __init__(self, attr: str, resource: str, label: str, documented: str) -> None:
        self.attr = attr  # MSP list
        self.wire = attr.removeprefix("cw_")  # cw_shapes resource name
        self.resource = resource  # for InvalidObject errors
        self.label = label  # for NotFound messages
        self.documented = set(documented.split()) | set(_COMMON)


ENDPOINTS: dict[str, Endpoint] = {
    "service/tickets": Endpoint("cw_tickets", "ticket", "Ticket", _TICKET),
    "time/entries": Endpoint(
        "cw_time_entries",
        "timeEntry",
        "TimeEntry",
        "company chargeToId chargeToType member locationId businessUnitId workType workRole "
        "agreement timeStart timeEnd actualHours hoursBilled hoursDeduct billableOption "
        "notes internalNotes ticket project invoice dateEntered enteredBy status",
    ),
    "company/companies": Endpoint(
        "cw_companies",
        "company",
        "Company",
        "identifier name status types addressLine1 addressLine2 city state zip country "
        "phoneNumber website territory market deletedFlag dateDeleted leadFlag "
        "isVendorFlag dateAcquired",
    ),
    "service/boards": Endpoint(
        "cw_boards",
        "board",
        "Board",
        "name location department inactiveFlag projectFlag",
    ),
    "finance/agreements": Endpoint(
        "cw_agreements",
        "agreement",
        "Agreement",
        "name type company contact startDate endDate noEndingDateFlag billAmount "
        "cancelledFlag dateCancelled agreementStatus billingCycle parentAgreement "
        "applicationUnits applicationLimit",
    ),
    "system/members": Endpoint(
        "cw_members",
        "member",
        "Member",
        "identifier firstName lastName inactiveFlag officeEmail title defaultLocation "
        "defaultDepartment",
    ),
}


def cw_error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    errors: list[dict] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status, headers)


def invalid(resource: str, field: str, message: str) -> Response:
    return cw_error(
        400,
        "InvalidObject",
        f"{resource} object is invalid",
        errors=[{"code": "InvalidField", "message": message, "resource": resource, "field": field}],
    )


class _BadRequest(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _int_param(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(name, f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _BadRequest(name, f"{name} must be {limit}; got {value}")
    return value


def _parse_order(text: str, known: set[str]) -> list[tuple[tuple[str, ...], bool]]:
    order: list[tuple[tuple[str, ...], bool]] = []
    for item in text.split(","):
        words = item.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in {"asc", "desc"}):
            raise _BadRequest("orderBy", f"orderBy item {item.strip()!r} is invalid")
        path = tuple(words[0].split("/"))
        if path[0] not in known and path[0] not in INFO_ALIASES:
            raise _BadRequest("orderBy", f"unknown orderBy field {words[0]!r}")
        order.append((path, len(words) == 2 and words[1].lower() == "desc"))
    return order


def project(record: dict, fields: list[tuple[str, ...]]) -> dict:
    """`fields=id,board/name` keeps the nesting: {"id": 1, "board": {"name": ...}}."""
    out: dict[str, Any] = {}
    for path in fields:
        value = get_path(record, path)
        if value is MISSING and path[0] in INFO_ALIASES:
            path = ("_info", *path)
            value = get_path(record, path)
        if value is MISSING:
            continue
        target = out
        for part in path[:-1]:
            nested = target.get(part)
            if not isinstance(nested, dict):
                nested = target[part] = {}
            target = nested
        target[path[-1]] = value
    return out


def _field_paths() -> list[tuple[str, ...]]:
    fields = request.args.get("fields") or ""
    return [tuple(f.strip().split("/")) for f in fields.split(",") if f.strip()]


def _link(page: int | None = None, page_id: int | None = None) -> str:
    args = request.args.to_dict(flat=False)
    if page is not None:
        args["page"] = [str(page)]
    if page_id is not None:
        args.pop("page", None)
        args["pageId"] = [str(page_id)]
    return request.base_url + "?" + urlencode(args, doseq=True, quote_via=quote)


class ConnectWise:
    """The routes of one ConnectWise server over the shared state."""

    def __init__(self, state: SharedState, credentials: Mapping[str, str]) -> None:
        self.state = state
        self.creds = credentials
        self.faults = state.faults[SOURCE]
        self.expected_user = f"{credentials['company_id']}+{credentials['public_key']}".lower()
        # as a database keeps its indexes: an advance rebuilds these at once
        state.indexed.update(e.attr for e in ENDPOINTS.values())

    def blueprint(self) -> Blueprint:
        bp = Blueprint(SOURCE, __name__)
        bp.add_url_rule(
            "/login/companyinfo/<company_id>", view_func=self.company_info, methods=["GET"]
        )
        bp.add_url_rule(API_ROOT + "<path:rest>", view_func=self.api, methods=["GET"])
        bp.add_url_rule(
            API_ROOT + "<path:rest>",
            view_func=self.read_only,
            methods=["POST", "PUT", "PATCH", "DELETE"],
        )
        return bp

    def wire(self, record: dict, resource: str) -> dict:
        """As the real API sends it, unless the MSP's records are real documents
        already (`cw_verbatim`: the fixture corpus), which are sent as they are."""
        if getattr(self.state.msp, "cw_verbatim", False):
            return record
        return on_wire(record, resource)

    def authenticate(self) -> Response | None:
        header = request.headers.get("Authorization", "")
        user = password = None
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
                user, _, password = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                user = None
        if user is None:
            return cw_error(401, "Unauthorized", "Authorization header (Basic) is required")
        company, _, public = user.partition("+")
        if (
            f"{company.lower()}+{public.lower()}" != self.expected_user
            or public != self.creds["public_key"]
            or password != self.creds["private_key"]
        ):
            return cw_error(401, "Unauthorized", "Invalid API key or company id")
        if request.headers.get("clientId") != self.creds["client_id"]:
            return cw_error(401, "Unauthorized", "A valid clientId header is required")
        if self.faults.take("expired_token", request.path) is not None:
            return cw_error(401, "Unauthorized", "Session expired; authenticate again")
        return None

    def company_info(self, company_id: str) -> Response:
        if company_id.lower() != self.creds["company_id"].lower():
            return cw_error(404, "NotFound", f"Company {company_id} not found")
        return json_response(
            {
                "CompanyName": "QBR Sandbox MSP",
                "Codebase": CODEBASE,
                "VersionCode": "v2025.1",
                "VersionNumber": "v4.6.2025.1",
                "CompanyID": self.creds["company_id"],
                "IsCloud": False,
                "SiteUrl": request.host,
                "AllowAccessToCloudSites": False,
            }
        )

    def api(self, rest: str) -> Response:
        refused = self.authenticate()
        if refused:
            return refused
        rest = rest.strip("/")
        head, _, tail = rest.rpartition("/")
        with self.state.lock:  # advance() mutates the lists: read them under the lock
            if rest in ENDPOINTS:
                return self.listing(ENDPOINTS[rest])
            if head in ENDPOINTS and tail == "count":
                return self.count(ENDPOINTS[head])
            if head in ENDPOINTS and tail.isdigit():
                return self.by_id(ENDPOINTS[head], int(tail))
        return cw_error(404, "NotFound", f"The resource /{rest} was not found.")

    def read_only(self, rest: str) -> Response:
        return self.authenticate() or cw_error(
            405, "MethodNotAllowed", "The sandbox is read-only for ConnectWise."
        )

    def predicate_for(self, endpoint: Endpoint) -> Any:
        """The `conditions` as a predicate, or None when there are none."""
        conditions = request.args.get("conditions")
        if not conditions:
            return None
        known = self.state.known_fields(endpoint.attr, endpoint.documented)
        try:
            return compile_conditions(conditions, known)
        except ConditionsError as exc:
            raise _BadRequest("conditions", str(exc)) from None

    def matching(self, endpoint: Endpoint) -> list[dict]:
        """The records the conditions select (a new list): from the id/lastUpdated
        index when the conditions bound either, else by a scan."""
        predicate = self.predicate_for(endpoint)
        if predicate is None:
            return self.state.records(endpoint.attr)
        found = self.state.index(endpoint.attr).matching(predicate)
        if found is not None:
            return found
        return [r for r in self.state.records(endpoint.attr) if predicate(r)]

    def forward_page(
        self, endpoint: Endpoint, page_id: int, page_size: int
    ) -> tuple[list[dict], bool, int]:
        """One forward-only page in time proportional to the page, not to the
        table (conditions on id/lastUpdated use the index; others skip records
        in id order): (items, more, page number)."""
        predicate = self.predicate_for(endpoint)
        index = self.state.index(endpoint.attr)
        items, more = index.page_after(predicate, page_id, page_size)
        page_number = 1
        if any(f["kind"] == "drop_connection" for f in self.faults.active()):
            rows, ids = index.rows, index.ids
            start = bisect_right(ids, page_id)
            before = sum(1 for r in rows[:start] if predicate is None or predicate(r))
            page_number = before // page_size + 1
        return items, more, page_number

    def count(self, endpoint: Endpoint) -> Response:
        try:
            records = self.matching(endpoint)
        except _BadRequest as exc:
            return invalid(endpoint.resource, exc.field, exc.message)
        self.state.note(SOURCE, f"count {endpoint.wire}")
        return json_response({"count": len(records)})

    def by_id(self, endpoint: Endpoint, record_id: int) -> Response:
        index = self.state.index(endpoint.attr)
        found = index.by_id(record_id)
        if found is None and not index.exact_ids:
            found = next((r for r in index.records if r.get("id") == record_id), None)
        if found is not None:
            fields = _field_paths()
            record = self.wire(found, endpoint.wire)
            return json_response(project(record, fields) if fields else record)
        return cw_error(404, "NotFound", f"{endpoint.label} with id {record_id} not found")

    def page(self, endpoint: Endpoint) -> tuple[list[dict], list[str], int]:
        """The records of this listing request, its Link header parts and its page
        number. Raises _BadRequest."""
        page_size = _int_param("pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = _int_param("page", 1, 1)
        if request.headers.get("pagination-type", "").lower() == "forward-only":
            page_id = _int_param("pageId", 0, 0)
            items, more, page_number = self.forward_page(endpoint, page_id, page_size)
            links = [f'<{_link(page_id=items[-1]["id"])}>; rel="next"'] if more else []
            return items, links, page_number
        records = self.matching(endpoint)
        known = self.state.known_fields(endpoint.attr, endpoint.documented)
        order = _parse_order(request.args.get("orderBy", ""), known)
        records.sort(key=lambda r: sort_key(r.get("id")))
        for path, descending in reversed(order):
            records.sort(key=lambda r, p=path: sort_key(resolve(r, p)), reverse=descending)
        last = max(1, math.ceil(len(records) / page_size))
        links = []
        if page > 1:
            links.append(f'<{_link(page=1)}>; rel="first"')
            links.append(f'<{_link(page=page - 1)}>; rel="prev"')
        if page < last:
            links.append(f'<{_link(page=page + 1)}>; rel="next"')
        links.append(f'<{_link(page=last)}>; rel="last"')
        return records[(page - 1) * page_size : page * page_size], links, page

    def broken(self, items: list[dict]) -> list[dict]:
        """The page with the malformed_record fault applied (when it is on)."""
        fault = self.faults.take("malformed_record", request.path) if items else None
        if fault is None:
            return items
        if fault.get("same_id"):
            # the first record itself arrives broken (keeping its id) instead of clean
            copies = malformed_copies(items[0], fault["variants"], "id", [items[0]["id"]] * 9)
            return [*copies[:1], *items[1:]]
        fresh = range(900_000_001, 900_000_010)
        return items + malformed_copies(items[0], fault["variants"], "id", fresh)

    def listing(self, endpoint: Endpoint) -> Response:
        try:
            items, links, page_number = self.page(endpoint)
        except _BadRequest as exc:
            return invalid(endpoint.resource, exc.field, exc.message)
        # as the real API sends them: nulls omitted, _info in references (sometimes
        # null), custom fields without value, extra nested objects (cw_shapes)
        items = self.broken([self.wire(r, endpoint.wire) for r in items])
        fields = _field_paths()
        if fields:
            items = [project(r, fields) for r in items]
        # what was asked, for tests and `make bench` (`/_sandbox/status` notes)
        kind = "id_sweep" if [f[0] for f in fields] == ["id"] else "list"
        self.state.note(SOURCE, f"{kind} {endpoint.wire}")
        self.state.note(SOURCE, f"{kind}_rows {endpoint.wire}", len(items))

        headers = {"Link": ", ".join(links)} if links else {}
        dropped = self.faults.take("drop_connection", request.path, page=page_number)
        if dropped is not None:
            if dropped["mode"] == "no_response":
                drop_socket()
                return Response(b"", status=500)
            response = truncated_response(dumps(items).encode())
            response.headers.update(headers)
            return response
        return json_response(items, headers=headers)


def blueprint(state: SharedState, credentials: Mapping[str, str]) -> Blueprint:
    return ConnectWise(state, credentials).blueprint()


def urls(root: str, credentials: Mapping[str, str]) -> dict[str, str]:
    return {"connectwise": root + API_ROOT.lstrip("/"), "connectwise_site": root}


SERVER = Server(SOURCE, blueprint, lambda _state: cw_error, DEFAULT_CREDENTIALS, urls)


def create_app(
    state: SharedState,
    credentials: dict[str, str] | None = None,
    controller: Controller | None = None,
) -> Flask:
    return SERVER.create_app(state, credentials, controller)
