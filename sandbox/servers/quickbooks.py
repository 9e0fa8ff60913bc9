"""QuickBooks Online Accounting API v3 imitation: OAuth2 refresh-token grant with
rotation, `/query`, `/cdc`, `/reports/ProfitAndLoss` (in the real shape: a
parent's own postings in its section header, `""` for no activity, the Total
column, NoReportData), read by id. `PUT /_sandbox/quickbooks/report` serves a
fixture report document in place of the books (DELETE to go back)."""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import json
import secrets
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from sandbox.servers.base import CONTROL_PREFIX, Controller, _loopback, install_common
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

SOURCE = "quickbooks"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
DEFAULT_CREDENTIALS = {
    "client_id": "ABsandboxQbrClientId0000000000000000000000000000",
    "client_secret": "sandboxQbrClientSecret00000000000000000",
    "realm_id": "9341453050000000",
    "refresh_token": "AB11sandbox0initial0refresh0token0000000000000000",
}
REFRESH_TOKEN_LIFETIME = 100 * 24 * 3600
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
SECTION_BY_TYPE = {
    "Income": "Income",
    "Cost of Goods Sold": "COGS",
    "Expense": "Expenses",
    "Other Income": "OtherIncome",
    "Other Expense": "OtherExpenses",
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


class Tokens:
    """OAuth2 state: rotating refresh tokens and expiring access tokens."""

    def __init__(
        self,
        initial_refresh_token: str,
        access_lifetime: float = 3600,
        persist_to: Path | None = None,
        grace_seconds: float = 0.0,
    ) -> None:
        self.lock = threading.Lock()
        self.access_lifetime = access_lifetime
        self.persist_to = persist_to
        #: 0 = strict (a rotated refresh token dies at once); else how long it still works
        self.grace_seconds = grace_seconds
        #: rotated refresh token -> (its successor, monotonic time of the rotation)
        self.rotated: dict[str, tuple[str, float]] = {}
        #: every refresh-token grant received (accepted or not)
        self.exchanges = 0
        self.refresh_tokens: set[str] = {initial_refresh_token}
        self.access: dict[str, float] = {}  # token -> monotonic expiry
        self.latest_refresh_token = initial_refresh_token
        if persist_to is not None and persist_to.exists():
            try:
                saved = json.loads(persist_to.read_text())["refresh_token"]
            except (OSError, ValueError, KeyError, TypeError):
                saved = None
            if saved:
                # A restarted sandbox honours both its initial token and the newest
                # one it handed out, so a pipeline that persisted it keeps working.
                self.refresh_tokens.add(saved)
                self.latest_refresh_token = saved

    def refresh(self, refresh_token: str, grace: float | None = None) -> dict[str, Any] | None:
        """Rotate: the presented refresh token is retired, a new one issued. Within the
        grace period (lenient provider) a retired token is answered with the successor
        it already got, as long as that successor is still the current one."""
        grace = self.grace_seconds if grace is None else grace
        with self.lock:
            self.exchanges += 1
            if refresh_token in self.refresh_tokens:
                self.refresh_tokens.discard(refresh_token)
                new_refresh = "AB11" + secrets.token_urlsafe(36)
                self.refresh_tokens.add(new_refresh)
                self.rotated[refresh_token] = (new_refresh, time.monotonic())
                if len(self.rotated) > 1000:
                    self.rotated.pop(next(iter(self.rotated)))
            else:
                successor, when = self.rotated.get(refresh_token, (None, 0.0))
                fresh = grace > 0 and time.monotonic() - when < grace
                if successor is None or not fresh or successor not in self.refresh_tokens:
                    return None
                new_refresh = successor
            self.latest_refresh_token = new_refresh
            access = "eyJsandbox." + secrets.token_urlsafe(48)
            self.access[access] = time.monotonic() + self.access_lifetime
            self._persist()
        return {
            "access_token": access,
            "expires_in": int(self.access_lifetime),
            "refresh_token": new_refresh,
            "x_refresh_token_expires_in": REFRESH_TOKEN_LIFETIME,
            "token_type": "bearer",
        }

    def _persist(self) -> None:
        if self.persist_to is None:
            return
        tmp = self.persist_to.with_suffix(".tmp")
        tmp.write_text(json.dumps({"refresh_token": self.latest_refresh_token}))
        tmp.replace(self.persist_to)

    def check(self, access_token: str) -> str:
        """'ok', 'expired' or 'invalid'."""
        with self.lock:
            expiry = self.access.get(access_token)
        if expiry is None:
            return "invalid"
        return "ok" if time.monotonic() < expiry else "expired"

    def expire(self, access_token: str) -> None:
        with self.lock:
            if access_token in self.access:
                self.access[access_token] = 0.0


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):.2f}"


def _chart_of_accounts(msp: Any) -> list[dict]:
    chart = getattr(msp, "CHART_OF_ACCOUNTS", None)
    if chart is None:
        try:
            chart = getattr(
                importlib.import_module(type(msp).__module__), "CHART_OF_ACCOUNTS", None
            )
        except ImportError:
            chart = None
    return list(chart or [])


def create_app(
    state: SharedState,
    credentials: dict[str, str] | None = None,
    controller: Controller | None = None,
    tokens: Tokens | None = None,
    hide_inactive: bool = True,
) -> Flask:
    creds = {**DEFAULT_CREDENTIALS, **(credentials or {})}
    tokens = tokens or Tokens(creds["refresh_token"])
    faults = state.faults[SOURCE]
    app = Flask(f"sandbox.{SOURCE}")

    def now_text() -> str:
        return qbo_time(state.now())

    def fault(
        status: int,
        message: str,
        detail: str,
        code: str = "4000",
        fault_type: str = "ValidationFault",
        headers: dict[str, str] | None = None,
    ) -> Response:
        body = {
            "Fault": {
                "Error": [{"Message": message, "Detail": detail, "code": code}],
                "type": fault_type,
            },
            "time": now_text(),
        }
        return json_response(body, status, headers)

    def generic_error(
        status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        if request.path == TOKEN_PATH:
            return json_response({"error": code, "error_description": message}, status, headers)
        fault_type, number, text = _ERROR_CODES.get(code, ("SystemFault", "10000", code))
        return fault(status, text, message, number, fault_type, headers)

    install_common(app, state, SOURCE, generic_error, controller)

    # --- OAuth2 --------------------------------------------------------------
    @app.post(TOKEN_PATH)
    def token() -> Response:
        header = request.headers.get("Authorization", "")
        client = None
        if header[:6].lower() == "basic ":
            try:
                client = base64.b64decode(header[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                client = None
        if client != f"{creds['client_id']}:{creds['client_secret']}":
            return json_response({"error": "invalid_client"}, 401)
        grant = request.form.get("grant_type")
        if grant != "refresh_token":
            return json_response({"error": "unsupported_grant_type"}, 400)
        lenient = faults.take("lenient_tokens", request.path)
        issued = tokens.refresh(
            request.form.get("refresh_token", ""), lenient["grace"] if lenient else None
        )
        if issued is None:
            return json_response({"error": "invalid_grant"}, 400)
        late = faults.take("slow_token", request.path)
        if late is not None:  # rotated already; the answer comes after the client gave up
            state.sleep(late["seconds"])
        return json_response(issued, headers={"Cache-Control": "no-store"})

    def authenticate(realm: str) -> Response | None:
        header = request.headers.get("Authorization", "")
        access = header[7:].strip() if header[:7].lower() == "bearer " else ""
        verdict = tokens.check(access) if access else "invalid"
        if verdict == "ok" and faults.take("expired_token", request.path) is not None:
            tokens.expire(access)
            verdict = "expired"
        if verdict != "ok":
            detail = (
                "Token expired: the access token has expired; refresh it"
                if verdict == "expired"
                else "Authentication failed: missing or invalid bearer token"
            )
            return fault(
                401,
                "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                detail,
                "3200",
                "AUTHENTICATION",
            )
        if realm != creds["realm_id"]:
            return fault(
                403,
                "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                f"Not authorized for realm {realm}",
                "3100",
                "AUTHORIZATION",
            )
        if "minorversion" not in request.args:
            state.note(SOURCE, "requests_without_minorversion")
            state.note(SOURCE, "last_path_without_minorversion", request.path)
        else:
            state.note(SOURCE, "last_minorversion", request.args["minorversion"])
        return None

    # --- query ---------------------------------------------------------------
    def entity_records(entity: str) -> list[dict]:
        attr = ENTITIES.get(entity)
        return state.records(attr) if attr else []

    def validate(query: Query) -> None:
        if query.entity not in ENTITIES and query.entity not in EMPTY_ENTITIES:
            raise QueryError(f"QueryValidationError: Invalid entity name: {query.entity}")
        if query.entity not in ENTITIES:
            return
        known = state.known_fields(
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

    @app.route("/v3/company/<realm>/query", methods=["GET", "POST"])
    def query(realm: str) -> Response:
        refused = authenticate(realm)
        if refused:
            return refused
        text = request.args.get("query")
        if text is None and request.method == "POST":
            text = request.get_data(as_text=True)
        try:
            parsed = parse_query(text or "")
            with state.lock:
                validate(parsed)
                return answer(parsed)
        except QueryError as exc:
            detail = str(exc)
            message = "Invalid query" if "Validation" in detail else "Error parsing query"
            return fault(400, message, detail, "4000" if "Parser" in detail else "4001")

    def answer(parsed: Query) -> Response:
        records = entity_records(parsed.entity)
        if (
            hide_inactive
            and parsed.entity in NAME_LISTS
            and not any(c.field == "Active" for c in parsed.where)
        ):
            records = [r for r in records if r.get("Active", True) is not False]
        rows = run(parsed, records)
        if parsed.count:
            return json_response({"QueryResponse": {"totalCount": len(rows)}, "time": now_text()})
        start = parsed.start_position
        page = rows[start - 1 : start - 1 + parsed.max_results]
        if page and parsed.columns:
            page = [{name: r[name] for name in ["Id", *parsed.columns] if name in r} for r in page]
        broken = faults.take("malformed_record", request.path) if page else None
        if broken is not None:
            fresh = (str(n) for n in range(990_000_001, 990_000_010))
            page = page + malformed_copies(
                page[0], broken["variants"], "Id", fresh, ("TotalAmt", "Balance")
            )
        if page:
            body: dict[str, Any] = {
                parsed.entity: page,
                "startPosition": start,
                "maxResults": len(page),
            }
        else:
            body = {}
        payload = {"QueryResponse": body, "time": now_text()}
        page_number = (start - 1) // max(parsed.max_results, 1) + 1
        dropped = faults.take("drop_connection", request.path, page=page_number)
        if dropped is not None:
            if dropped["mode"] == "no_response":
                drop_socket()
                return Response(b"", status=500)
            return truncated_response(dumps(payload).encode())
        return json_response(payload)

    # --- read one ------------------------------------------------------------
    @app.get("/v3/company/<realm>/<entity>/<entity_id>")
    def read_one(realm: str, entity: str, entity_id: str) -> Response:
        refused = authenticate(realm)
        if refused:
            return refused
        name = next((e for e in ENTITIES if e.lower() == entity.lower()), None)
        if name is None:
            return generic_error(404, "NotFound", f"Unsupported resource: {entity}")
        with state.lock:
            for record in entity_records(name):
                if str(record.get("Id")) == entity_id:
                    return json_response({name: record, "time": now_text()})
        return fault(
            400,
            "Object Not Found",
            f"Object Not Found : Something you're trying to use has been made inactive "
            f"or deleted ({name} {entity_id})",
            "610",
        )

    # --- change data capture -------------------------------------------------
    @app.get("/v3/company/<realm>/cdc")
    def cdc(realm: str) -> Response:
        refused = authenticate(realm)
        if refused:
            return refused
        wanted = [e.strip() for e in request.args.get("entities", "").split(",") if e.strip()]
        since_text = request.args.get("changedSince", "")
        if not wanted:
            return fault(400, "Invalid request", "entities is required", "2020")
        since = parse_datetime(since_text)
        if since is None:
            return fault(400, "Invalid request", f"changedSince is invalid: {since_text!r}", "2020")
        names = []
        for entity in wanted:
            name = next(
                (e for e in [*ENTITIES, *EMPTY_ENTITIES] if e.lower() == entity.lower()), None
            )
            if name is None:
                return fault(
                    400, "Invalid request", f"Unsupported entity for CDC: {entity}", "2020"
                )
            names.append(name)
        with state.lock:
            now = state.now()
            if since < now - CDC_LOOKBACK:
                return fault(
                    400,
                    "Invalid request",
                    "changedSince cannot be more than 30 days in the past",
                    "2020",
                )
            budget = CDC_MAX_OBJECTS
            responses = []
            for name in names:
                attr = ENTITIES.get(name)
                changed = []
                if attr:
                    for record in state.records(attr):
                        updated = parse_datetime(field_value(record, "MetaData.LastUpdatedTime"))
                        if updated is not None and updated > since:
                            changed.append((updated, record))
                    changed.sort(key=lambda pair: pair[0])
                    gone = sorted(
                        (when, rid)
                        for rid, when in state.deletion_times(attr).items()
                        if when > since
                    )
                    changed += [
                        (
                            when,
                            {
                                "domain": "QBO",
                                "status": "Deleted",
                                "Id": rid,
                                "MetaData": {"LastUpdatedTime": qbo_time(when)},
                            },
                        )
                        for when, rid in gone
                    ]
                objects = [record for _, record in changed[:budget]]
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
            payload = {"CDCResponse": [{"QueryResponse": responses}], "time": now_text()}
            return json_response(payload)

    # --- Profit and Loss -----------------------------------------------------
    @app.get("/v3/company/<realm>/reports/ProfitAndLoss")
    def profit_and_loss(realm: str) -> Response:
        refused = authenticate(realm)
        if refused:
            return refused
        with state.lock:
            today = state.now().date()
            try:
                start = dt.date.fromisoformat(
                    request.args.get("start_date") or today.replace(month=1, day=1).isoformat()
                )
                end = dt.date.fromisoformat(request.args.get("end_date") or today.isoformat())
            except ValueError as exc:
                return fault(400, "Invalid date", str(exc), "2020")
            if start > end:
                return fault(400, "Invalid date", "start_date must be before end_date", "2020")
            method = request.args.get("accounting_method", "Accrual")
            if method not in {"Accrual", "Cash"}:
                return fault(400, "Invalid request", f"accounting_method {method!r}", "2020")
            by = request.args.get("summarize_column_by", "Total")
            if by not in {"Total", "Month"}:
                return fault(
                    400,
                    "Invalid request",
                    f"summarize_column_by={by} is not supported by the sandbox (Total, Month)",
                    "2020",
                )
            fixture = report_fixture.get("report")
            if fixture is not None:
                report = fixture_answer(fixture, start, end, method, now_text())
            else:
                report = build_profit_and_loss(state.msp, start, end, method, by, now_text())
        return json_response(report)

    # --- a fixture report in place of the books (tests of real captured shapes) ---
    report_fixture: dict[str, Any] = {}

    @app.route(CONTROL_PREFIX + "quickbooks/report", methods=["GET", "PUT", "DELETE"])
    def _report_fixture() -> Response:
        """PUT a ProfitAndLoss document: it answers every report request whose
        dates overlap its StartPeriod..EndPeriod (others get an empty report)
        until DELETE. Loopback callers only."""
        if not _loopback(request.remote_addr):
            return json_response({"error": "control API is loopback-only"}, 403)
        if request.method == "PUT":
            document = request.get_json(silent=True)
            if not isinstance(document, dict) or not isinstance(document.get("Header"), dict):
                return json_response({"error": "body must be a ProfitAndLoss report"}, 400)
            report_fixture["report"] = document
        elif request.method == "DELETE":
            report_fixture.pop("report", None)
        return json_response({"fixture": report_fixture.get("report") is not None})

    return app


# --- the P&L report ------------------------------------------------------------


def report_header(
    start: dt.date, end: dt.date, method: str, generated: str, by: str, *, has_data: bool
) -> dict:
    """The report's Header as the real service sends it (`NoReportData` when empty)."""
    return {
        "Time": generated,
        "ReportName": "ProfitAndLoss",
        "ReportBasis": method,
        "StartPeriod": start.isoformat(),
        "EndPeriod": end.isoformat(),
        "SummarizeColumnsBy": by,
        "Currency": "USD",
        "Option": [
            {"Name": "AccountingStandard", "Value": "GAAP"},
            {"Name": "NoReportData", "Value": "false" if has_data else "true"},
        ],
    }


def fixture_answer(
    fixture: dict, start: dt.date, end: dt.date, method: str, generated: str
) -> dict:
    """A stored report document as the answer to a request for [start, end]:
    as is when the periods overlap, else the real empty report (NoReportData)."""
    header = fixture.get("Header") or {}
    try:
        first = dt.date.fromisoformat(str(header.get("StartPeriod")))
        last = dt.date.fromisoformat(str(header.get("EndPeriod")))
    except ValueError:
        return fixture
    if first <= end and start <= last:
        return fixture
    return {
        "Header": report_header(start, end, method, generated, "Month", has_data=False),
        "Columns": {"Column": []},
        "Rows": {},
    }


def _months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date, dt.date]]:
    """(first of month, column start, column end) for each month touching the range."""
    out = []
    first = start.replace(day=1)
    while first <= end:
        following = (first + dt.timedelta(days=32)).replace(day=1)
        out.append((first, max(first, start), min(following - dt.timedelta(days=1), end)))
        first = following
    return out


def _month_title(first: dt.date, col_start: dt.date, col_end: dt.date) -> str:
    last_day = ((first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)).day
    if col_start.day == 1 and col_end.day == last_day:
        return first.strftime("%b %Y")
    return f"{first.strftime('%b')} {col_start.day}-{col_end.day}, {first.year}"


def build_profit_and_loss(
    msp: Any, start: dt.date, end: dt.date, method: str, by: str, generated: str
) -> dict:
    """The real report's shape from `msp.profit_and_loss` (same numbers for Cash and
    Accrual: the synthetic books have no timing differences)."""
    months = _months(start, end)
    raw = msp.profit_and_loss(start, end)
    # amounts[account id][column index]; column per month (Month) or one (Total)
    ncols = len(months) if by == "Month" else 1
    month_index = {first: i for i, (first, _, _) in enumerate(months)}
    amounts: dict[str, dict[int, Decimal]] = {}
    for (account_id, month), value in raw.items():
        col = month_index.get(month) if by == "Month" else 0
        if col is None:
            continue
        cells = amounts.setdefault(str(account_id), {})
        cells[col] = cells.get(col, Decimal(0)) + Decimal(str(value))

    accounts = {str(a.get("Id")): a for a in (getattr(msp, "qbo_accounts", None) or [])}
    section_of: dict[str, str] = {}
    chart_parent: dict[str, str] = {}
    for account_id, account in accounts.items():  # the account's own type first
        section = SECTION_BY_TYPE.get(account.get("AccountType", ""))
        if section:
            section_of[account_id] = section
    for item in _chart_of_accounts(msp):
        section_of.setdefault(str(item.get("id")), item.get("section"))
        if item.get("parent_id"):
            chart_parent[str(item.get("id"))] = str(item["parent_id"])
    for account_id in amounts:  # accounts only the chart knows
        if account_id not in accounts:
            chart = {str(c.get("id")): c for c in _chart_of_accounts(msp)}.get(account_id, {})
            accounts[account_id] = {
                "Id": account_id,
                "Name": chart.get("name", f"Account {account_id}"),
                "FullyQualifiedName": chart.get("fully_qualified_name", ""),
            }

    def parent_of(account: dict) -> str | None:
        ref = account.get("ParentRef")
        if isinstance(ref, dict) and ref.get("value"):
            return str(ref["value"])
        return chart_parent.get(str(account.get("Id")))

    children: dict[str | None, list[str]] = {}
    for account_id, account in accounts.items():
        parent = parent_of(account)
        if parent not in accounts:
            parent = None
        children.setdefault(parent, []).append(account_id)
    for ids in children.values():
        ids.sort(
            key=lambda i: accounts[i].get("FullyQualifiedName") or accounts[i].get("Name") or ""
        )

    blank = [{"value": ""} for _ in range(ncols + (1 if by == "Month" else 0))]

    def cells(values: dict[int, Decimal], empty_blank: bool) -> list[dict]:
        """Money cells (+ the Total column when by month). Data rows leave months
        without activity blank, as the real report does; summaries show 0.00."""
        empty = "" if empty_blank else "0.00"
        out = [{"value": _money(values[col]) if col in values else empty} for col in range(ncols)]
        if by == "Month":
            total = sum(values.values(), Decimal(0))
            out.append({"value": _money(total) if values else empty})
        return out

    def add(into: dict[int, Decimal], values: dict[int, Decimal]) -> None:
        for col, value in values.items():
            into[col] = into.get(col, Decimal(0)) + value

    def account_rows(account_id: str) -> tuple[list[dict], dict[int, Decimal]]:
        """Rows for an account and its descendants; empty when there is no activity."""
        account = accounts[account_id]
        own = amounts.get(account_id, {})
        kid_rows: list[dict] = []
        total: dict[int, Decimal] = dict(own)
        for child in children.get(account_id, []):
            rows, sub = account_rows(child)
            kid_rows += rows
            add(total, sub)
        label = {"value": account.get("Name", ""), "id": account_id}
        if not kid_rows:
            # no sub-account activity in the window: a plain data row
            if not own:
                return [], {}
            return [{"ColData": [label, *cells(own, True)], "type": "Data"}], total
        # the real shape: a parent's own postings are the amounts of its section
        # header (empty strings when it has none), its sub-accounts follow
        section = {
            "Header": {"ColData": [label, *cells(own, True)]},
            "Rows": {"Row": kid_rows},
            "Summary": {
                "ColData": [{"value": f"Total {account.get('Name', '')}"}, *cells(total, False)]
            },
            "type": "Section",
        }
        return [section], total

    def group(group_name: str, title: str) -> tuple[dict, dict[int, Decimal]]:
        rows: list[dict] = []
        total: dict[int, Decimal] = {}
        for account_id in children.get(None, []):
            if section_of.get(account_id) != group_name:
                continue
            sub_rows, sub = account_rows(account_id)
            rows += sub_rows
            add(total, sub)
        section: dict[str, Any] = {"Header": {"ColData": [{"value": title}, *blank]}}
        if rows:
            section["Rows"] = {"Row": rows}
        section["Summary"] = {
            "ColData": [{"value": f"Total {title}"}, *(cells(total, False) if rows else blank)]
        }
        section["type"] = "Section"
        section["group"] = group_name
        return section, total

    def computed(group_name: str, title: str, values: dict[int, Decimal]) -> dict:
        full = {col: values.get(col, Decimal(0)) for col in range(ncols)}
        return {
            "group": group_name,
            "type": "Section",
            "Summary": {"ColData": [{"value": title}, *cells(full, False)]},
        }

    def minus(a: dict[int, Decimal], b: dict[int, Decimal]) -> dict[int, Decimal]:
        return {col: a.get(col, Decimal(0)) - b.get(col, Decimal(0)) for col in range(ncols)}

    def plus(a: dict[int, Decimal], b: dict[int, Decimal]) -> dict[int, Decimal]:
        return {col: a.get(col, Decimal(0)) + b.get(col, Decimal(0)) for col in range(ncols)}

    income, income_total = group("Income", "Income")
    cogs, cogs_total = group("COGS", "Cost of Goods Sold")
    gross = minus(income_total, cogs_total)
    expenses, expenses_total = group("Expenses", "Expenses")
    operating = minus(gross, expenses_total)
    other_income, other_income_total = group("OtherIncome", "Other Income")
    other_expenses, other_expenses_total = group("OtherExpenses", "Other Expenses")
    net_other = minus(other_income_total, other_expenses_total)
    rows = [
        income,
        cogs,
        computed("GrossProfit", "Gross Profit", gross),
        expenses,
        computed("NetOperatingIncome", "Net Operating Income", operating),
        other_income,
        other_expenses,
        computed("NetOtherIncome", "Net Other Income", net_other),
        computed("NetIncome", "Net Income", plus(operating, net_other)),
    ]

    columns = [
        {"ColTitle": "", "ColType": "Account", "MetaData": [{"Name": "ColKey", "Value": "account"}]}
    ]
    if by == "Month":
        for first, col_start, col_end in months:
            title = _month_title(first, col_start, col_end)
            columns.append(
                {
                    "ColTitle": title,
                    "ColType": "Money",
                    "MetaData": [
                        {"Name": "StartDate", "Value": col_start.isoformat()},
                        {"Name": "EndDate", "Value": col_end.isoformat()},
                        {"Name": "ColKey", "Value": title},
                    ],
                }
            )
    columns.append(
        {
            "ColTitle": "Total",
            "ColType": "Money",
            "MetaData": [{"Name": "ColKey", "Value": "total"}],
        }
    )
    if not amounts:  # the real service: an empty report has no rows at all
        rows = []
    return {
        "Header": report_header(start, end, method, generated, by, has_data=bool(amounts)),
        "Columns": {"Column": columns},
        "Rows": {"Row": rows} if rows else {},
    }
