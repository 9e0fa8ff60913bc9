"""QuickBooks Online Accounting API v3 imitation: OAuth2 refresh-token grant with
rotation (`sandbox.servers.tokens`), `/query`, `/cdc`, `/reports/ProfitAndLoss`
(built by `sandbox.servers.qbo_report` in the real shape), read by id.
`PUT /_sandbox/quickbooks/report` serves a fixture report document in place of
the books (DELETE to go back). `SERVER` is its entry in `sandbox.servers.SERVERS`."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, request

from sandbox.servers.base import CONTROL_PREFIX, Controller, Server, loopback_only
from sandbox.servers.common import (
    SharedState,
    drop_socket,
    dumps,
    json_response,
    malformed_copies,
    parse_datetime,
    truncated_response,
)
from sandbox.servers.qbo_query import Query, QueryError, field_value, parse_query, run
from sandbox.servers.qbo_report import (
    SECTION_BY_TYPE,
    build_profit_and_loss,
    fixture_answer,
    report_header,
)
from sandbox.servers.tokens import REFRESH_TOKEN_LIFETIME, RotatingTokens, bearer_verdict

#: the shared token store's rotating kind, under the name this module always had
Tokens = RotatingTokens
__all__ = [
    "REFRESH_TOKEN_LIFETIME",
    "SECTION_BY_TYPE",
    "SERVER",
    "Tokens",
    "blueprint",
    "build_profit_and_loss",
    "create_app",
    "fixture_answer",
    "report_header",
]

SOURCE = "quickbooks"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
DEFAULT_CREDENTIALS = {
    "client_id": "ABsandboxQbrClientId0000000000000000000000000000",
    "client_secret": "sandboxQbrClientSecret00000000000000000",
    "realm_id": "9341453050000000",
    "refresh_token": "AB11sandbox0initial0refresh0token0000000000000000",
}
CDC_LOOKBACK = dt.timedelta(days=30)
CDC_MAX_OBJECTS = 1000

# entity name (case-sensitive) -> MSP list (also the key of msp.deleted)
ENTITIES = {
    "Account": "qbo_accounts",
    "Customer": "qbo_customers",
    "Item": "qbo_items",
    "Invoice": "qbo_invoices",
    "Payment": "qbo_payments",
    "CreditMemo": "qbo_credit_memos",
}
# Real entities the sandbox company simply has none of.
EMPTY_ENTITIES = {
    "Attachable", "Bill", "BillPayment", "Budget", "Class", "CompanyCurrency", "Department",
    "Deposit", "Employee", "Estimate", "JournalEntry", "PaymentMethod", "Purchase",
    "PurchaseOrder", "RefundReceipt", "SalesReceipt", "TaxAgency", "TaxCode", "TaxRate", "Term",
    "TimeActivity", "Transfer", "Vendor", "VendorCredit",
}  # fmt: skip
NAME_LISTS = {"Account", "Customer", "Item"}  # inactive ones hidden unless Active is queried
DOCUMENTED = {
    "Account": "Name FullyQualifiedName AccountType AccountSubType Classification Active "
    "SubAccount ParentRef AcctNum CurrentBalance",
    "Customer": "DisplayName CompanyName Active Balance ParentRef Job GivenName FamilyName "
    "PrimaryEmailAddr BillAddr",
    "Item": "Name Type IncomeAccountRef ExpenseAccountRef Active UnitPrice Sku",
    "Invoice": "DocNumber TxnDate DueDate CustomerRef TotalAmt Balance Line EmailStatus "
    "PrivateNote TxnStatus",
    "Payment": "TxnDate CustomerRef TotalAmt UnappliedAmt Line DepositToAccountRef",
    "CreditMemo": "DocNumber TxnDate CustomerRef TotalAmt Balance RemainingCredit Line",
}
try:
    from zoneinfo import ZoneInfo

    PACIFIC: dt.tzinfo = ZoneInfo("America/Los_Angeles")
except Exception:  # pragma: no cover - no tz database
    PACIFIC = dt.timezone(dt.timedelta(hours=-8))


def qbo_time(value: dt.datetime) -> str:
    """Service time stamps look like `2025-01-03T07:22:10.000-08:00`."""
    local = value.astimezone(PACIFIC)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + (local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])
    )


_ERROR_CODES = {
    # generic code -> (Fault type, Error code, Message)
    "TooManyRequests": (
        "ThrottleExceeded",
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
    ),
    "InternalServerError": ("SystemFault", "10000", "An application error has occurred."),
    "ServiceUnavailable": ("SystemFault", "10001", "Service is unavailable."),
    "NotFound": ("ValidationFault", "4000", "Resource not found"),
    "MethodNotAllowed": ("ValidationFault", "4000", "Method not allowed"),
}


def fault(
    state: SharedState,
    status: int,
    message: str,
    detail: str,
    code: str = "4000",
    fault_type: str = "ValidationFault",
    headers: dict[str, str] | None = None,
) -> Response:
    """An error in the service's `Fault` envelope."""
    body = {
        "Fault": {
            "Error": [{"Message": message, "Detail": detail, "code": code}],
            "type": fault_type,
        },
        "time": qbo_time(state.now()),
    }
    return json_response(body, status, headers)


def errors(state: SharedState) -> Any:
    """The generic errors (404, 429, 503, ...) as QuickBooks sends them; OAuth2 style
    on the token endpoint."""

    def generic_error(
        status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        if request.path == TOKEN_PATH:
            return json_response({"error": code, "error_description": message}, status, headers)
        fault_type, number, text = _ERROR_CODES.get(code, ("SystemFault", "10000", code))
        return fault(state, status, text, message, number, fault_type, headers)

    return generic_error


def _invalid(state: SharedState, detail: str) -> Response:
    return fault(state, 400, "Invalid request", detail, "2020")


class QuickBooks:
    """The routes of one QuickBooks Online server over the shared state."""

    def __init__(
        self,
        state: SharedState,
        credentials: Mapping[str, str],
        tokens: RotatingTokens,
        hide_inactive: bool = True,
    ) -> None:
        self.state = state
        self.creds = credentials
        self.tokens = tokens
        self.hide_inactive = hide_inactive
        self.faults = state.faults[SOURCE]
        self.report_fixture: dict[str, Any] = {}

    def blueprint(self) -> Blueprint:
        bp = Blueprint(SOURCE, __name__)
        company = "/v3/company/<realm>/"
        bp.add_url_rule(TOKEN_PATH, view_func=self.token, methods=["POST"])
        bp.add_url_rule(company + "query", view_func=self.query, methods=["GET", "POST"])
        bp.add_url_rule(company + "cdc", view_func=self.cdc, methods=["GET"])
        bp.add_url_rule(
            company + "reports/ProfitAndLoss", view_func=self.profit_and_loss, methods=["GET"]
        )
        bp.add_url_rule(company + "<entity>/<entity_id>", view_func=self.read_one)
        bp.add_url_rule(
            CONTROL_PREFIX + "quickbooks/report",
            view_func=self.report_fixture_control,
            methods=["GET", "PUT", "DELETE"],
        )
        return bp

    def now_text(self) -> str:
        return qbo_time(self.state.now())

    # --- OAuth2 --------------------------------------------------------------
    def token(self) -> Response:
        header = request.headers.get("Authorization", "")
        client = None
        if header[:6].lower() == "basic ":
            try:
                client = base64.b64decode(header[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                client = None
        if client != f"{self.creds['client_id']}:{self.creds['client_secret']}":
            return json_response({"error": "invalid_client"}, 401)
        if request.form.get("grant_type") != "refresh_token":
            return json_response({"error": "unsupported_grant_type"}, 400)
        lenient = self.faults.take("lenient_tokens", request.path)
        issued = self.tokens.refresh(
            request.form.get("refresh_token", ""), lenient["grace"] if lenient else None
        )
        if issued is None:
            return json_response({"error": "invalid_grant"}, 400)
        late = self.faults.take("slow_token", request.path)
        if late is not None:  # rotated already; the answer comes after the client gave up
            self.state.sleep(late["seconds"])
        return json_response(issued, headers={"Cache-Control": "no-store"})

    def authenticate(self, realm: str) -> Response | None:
        verdict = bearer_verdict(self.tokens, self.faults)
        if verdict != "ok":
            detail = (
                "Token expired: the access token has expired; refresh it"
                if verdict == "expired"
                else "Authentication failed: missing or invalid bearer token"
            )
            return fault(
                self.state,
                401,
                "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                detail,
                "3200",
                "AUTHENTICATION",
            )
        if realm != self.creds["realm_id"]:
            return fault(
                self.state,
                403,
                "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                f"Not authorized for realm {realm}",
                "3100",
                "AUTHORIZATION",
            )
        if "minorversion" not in request.args:
            self.state.note(SOURCE, "requests_without_minorversion")
            self.state.note(SOURCE, "last_path_without_minorversion", request.path)
        else:
            self.state.note(SOURCE, "last_minorversion", request.args["minorversion"])
        return None

    # --- query ---------------------------------------------------------------
    def entity_records(self, entity: str) -> list[dict]:
        attr = ENTITIES.get(entity)
        return self.state.records(attr) if attr else []

    def validate(self, query: Query) -> None:
        if query.entity not in ENTITIES and query.entity not in EMPTY_ENTITIES:
            raise QueryError(f"QueryValidationError: Invalid entity name: {query.entity}")
        if query.entity not in ENTITIES:
            return
        known = self.state.known_fields(
            ENTITIES[query.entity],
            ("Id SyncToken MetaData domain sparse " + DOCUMENTED[query.entity]).split(),
        )
        names = [c.field for c in query.where] + [name for name, _ in query.order_by]
        names += query.columns or []
        for name in names:
            if name.split(".")[0] not in known:
                raise QueryError(
                    f"QueryValidationError: property '{name}' is not queryable for {query.entity}"
                )

    def query(self, realm: str) -> Response:
        refused = self.authenticate(realm)
        if refused:
            return refused
        text = request.args.get("query")
        if text is None and request.method == "POST":
            text = request.get_data(as_text=True)
        try:
            parsed = parse_query(text or "")
            with self.state.lock:
                self.validate(parsed)
                return self.answer(parsed)
        except QueryError as exc:
            detail = str(exc)
            message = "Invalid query" if "Validation" in detail else "Error parsing query"
            code = "4000" if "Parser" in detail else "4001"
            return fault(self.state, 400, message, detail, code)

    def rows(self, parsed: Query) -> list[dict]:
        records = self.entity_records(parsed.entity)
        if (
            self.hide_inactive
            and parsed.entity in NAME_LISTS
            and not any(c.field == "Active" for c in parsed.where)
        ):
            records = [r for r in records if r.get("Active", True) is not False]
        return run(parsed, records)

    def answer(self, parsed: Query) -> Response:
        rows = self.rows(parsed)
        if parsed.count:
            body = {"QueryResponse": {"totalCount": len(rows)}, "time": self.now_text()}
            return json_response(body)
        start = parsed.start_position
        page = rows[start - 1 : start - 1 + parsed.max_results]
        if page and parsed.columns:
            page = [{name: r[name] for name in ["Id", *parsed.columns] if name in r} for r in page]
        broken = self.faults.take("malformed_record", request.path) if page else None
        if broken is not None:
            fresh = (str(n) for n in range(990_000_001, 990_000_010))
            page = page + malformed_copies(
                page[0], broken["variants"], "Id", fresh, ("TotalAmt", "Balance")
            )
        body: dict[str, Any] = {}
        if page:
            body = {parsed.entity: page, "startPosition": start, "maxResults": len(page)}
        payload = {"QueryResponse": body, "time": self.now_text()}
        page_number = (start - 1) // max(parsed.max_results, 1) + 1
        dropped = self.faults.take("drop_connection", request.path, page=page_number)
        if dropped is not None:
            if dropped["mode"] == "no_response":
                drop_socket()
                return Response(b"", status=500)
            return truncated_response(dumps(payload).encode())
        return json_response(payload)

    # --- read one ------------------------------------------------------------
    def read_one(self, realm: str, entity: str, entity_id: str) -> Response:
        refused = self.authenticate(realm)
        if refused:
            return refused
        name = next((e for e in ENTITIES if e.lower() == entity.lower()), None)
        if name is None:
            return errors(self.state)(404, "NotFound", f"Unsupported resource: {entity}")
        with self.state.lock:
            for record in self.entity_records(name):
                if str(record.get("Id")) == entity_id:
                    return json_response({name: record, "time": self.now_text()})
        return fault(
            self.state,
            400,
            "Object Not Found",
            f"Object Not Found : Something you're trying to use has been made inactive "
            f"or deleted ({name} {entity_id})",
            "610",
        )

    # --- change data capture -------------------------------------------------
    def cdc(self, realm: str) -> Response:
        refused = self.authenticate(realm)
        if refused:
            return refused
        wanted = [e.strip() for e in request.args.get("entities", "").split(",") if e.strip()]
        since_text = request.args.get("changedSince", "")
        if not wanted:
            return _invalid(self.state, "entities is required")
        since = parse_datetime(since_text)
        if since is None:
            return _invalid(self.state, f"changedSince is invalid: {since_text!r}")
        names = []
        for entity in wanted:
            known = [*ENTITIES, *EMPTY_ENTITIES]
            name = next((e for e in known if e.lower() == entity.lower()), None)
            if name is None:
                return _invalid(self.state, f"Unsupported entity for CDC: {entity}")
            names.append(name)
        with self.state.lock:
            if since < self.state.now() - CDC_LOOKBACK:
                return _invalid(self.state, "changedSince cannot be more than 30 days in the past")
            responses = self.changes(names, since)
            payload = {"CDCResponse": [{"QueryResponse": responses}], "time": self.now_text()}
        return json_response(payload)

    def changed(self, name: str, since: dt.datetime) -> list[tuple[dt.datetime, dict]]:
        """(when, record) of one entity changed after `since`, oldest first, then its
        deletions after `since` as `"status": "Deleted"` stubs."""
        attr = ENTITIES.get(name)
        if not attr:
            return []
        changed = []
        for record in self.state.records(attr):
            updated = parse_datetime(field_value(record, "MetaData.LastUpdatedTime"))
            if updated is not None and updated > since:
                changed.append((updated, record))
        changed.sort(key=lambda pair: pair[0])
        gone = sorted(
            (when, rid) for rid, when in self.state.deletion_times(attr).items() if when > since
        )
        for when, rid in gone:
            stub = {
                "domain": "QBO",
                "status": "Deleted",
                "Id": rid,
                "MetaData": {"LastUpdatedTime": qbo_time(when)},
            }
            changed.append((when, stub))
        return changed

    def changes(self, names: list[str], since: dt.datetime) -> list[dict]:
        """One QueryResponse per entity, at most CDC_MAX_OBJECTS objects in all."""
        budget = CDC_MAX_OBJECTS
        responses = []
        for name in names:
            objects = [record for _, record in self.changed(name, since)[:budget]]
            budget -= len(objects)
            if objects:
                responses.append(
                    {
                        name: objects,
                        "startPosition": 1,
                        "maxResults": len(objects),
                        "totalCount": len(objects),
                    }
                )
            else:
                responses.append({})
        return responses

    # --- Profit and Loss -----------------------------------------------------
    def report_request(self) -> tuple[dt.date, dt.date, str, str] | Response:
        """(start, end, accounting method, summarize by) of this request, or the error."""
        today = self.state.now().date()
        try:
            start = dt.date.fromisoformat(
                request.args.get("start_date") or today.replace(month=1, day=1).isoformat()
            )
            end = dt.date.fromisoformat(request.args.get("end_date") or today.isoformat())
        except ValueError as exc:
            return fault(self.state, 400, "Invalid date", str(exc), "2020")
        if start > end:
            return fault(
                self.state, 400, "Invalid date", "start_date must be before end_date", "2020"
            )
        method = request.args.get("accounting_method", "Accrual")
        if method not in {"Accrual", "Cash"}:
            return fault(
                self.state, 400, "Invalid request", f"accounting_method {method!r}", "2020"
            )
        by = request.args.get("summarize_column_by", "Total")
        if by not in {"Total", "Month"}:
            detail = f"summarize_column_by={by} is not supported by the sandbox (Total, Month)"
            return fault(self.state, 400, "Invalid request", detail, "2020")
        return start, end, method, by

    def profit_and_loss(self, realm: str) -> Response:
        refused = self.authenticate(realm)
        if refused:
            return refused
        with self.state.lock:
            asked = self.report_request()
            if isinstance(asked, Response):
                return asked
            start, end, method, by = asked
            fixture = self.report_fixture.get("report")
            if fixture is not None:
                report = fixture_answer(fixture, start, end, method, self.now_text())
            else:
                report = build_profit_and_loss(
                    self.state.msp, start, end, method, by, self.now_text()
                )
        return json_response(report)

    def report_fixture_control(self) -> Response:
        """PUT a ProfitAndLoss document: it answers every report request whose
        dates overlap its StartPeriod..EndPeriod (others get an empty report)
        until DELETE. Loopback callers only."""
        refused = loopback_only()
        if refused:
            return refused
        if request.method == "PUT":
            document = request.get_json(silent=True)
            if not isinstance(document, dict) or not isinstance(document.get("Header"), dict):
                return json_response({"error": "body must be a ProfitAndLoss report"}, 400)
            self.report_fixture["report"] = document
        elif request.method == "DELETE":
            self.report_fixture.pop("report", None)
        return json_response({"fixture": self.report_fixture.get("report") is not None})


def blueprint(
    state: SharedState,
    credentials: Mapping[str, str],
    tokens: RotatingTokens | None = None,
    hide_inactive: bool = True,
) -> Blueprint:
    tokens = tokens or RotatingTokens(credentials["refresh_token"])
    return QuickBooks(state, credentials, tokens, hide_inactive).blueprint()


def urls(root: str, credentials: Mapping[str, str]) -> dict[str, str]:
    return {
        "quickbooks": f"{root}v3/company/{credentials['realm_id']}/",
        "quickbooks_token": root + TOKEN_PATH.lstrip("/"),
    }


SERVER = Server(SOURCE, blueprint, errors, DEFAULT_CREDENTIALS, urls)


def create_app(
    state: SharedState,
    credentials: dict[str, str] | None = None,
    controller: Controller | None = None,
    tokens: RotatingTokens | None = None,
    hide_inactive: bool = True,
) -> Flask:
    return SERVER.create_app(
        state, credentials, controller, tokens=tokens, hide_inactive=hide_inactive
    )
