"""The independent route: every METRICS.md §1 input recomputed in plain Python.

No SQL and no shared code with the dbt models: this reads the MSP's records
the way a careful analyst would read the API payloads, so the warehouse can
be checked against it. Rules (METRICS.md, plus the sandbox's documented
conventions in `sandbox.msp`):

- Months are bounded in the reporting time zone (config.timezone); UTC
  timestamps are converted before bucketing. ConnectWise agreement dates are
  calendar dates (the date part of the midnight-UTC value).
- reactive_tickets_created: parent tickets (parentTicketId null) on a
  reactive board by `_info.dateEntered`. Includes the MSP's own internal
  tickets by default: METRICS.md excludes internal organizations from client
  metrics only (see count_internal_reactive_work below).
- reactive_tickets_closed: parent reactive tickets whose *current* status is
  a closed status, by closedDate (a reopened ticket keeps its old closedDate
  but is not counted).
- reactive_time_spent: actualHours of time entries with chargeToType
  ServiceTicket whose ticket (parent or child) is on a reactive board, by the
  entry's dateEntered.
- endpoints_managed / seats_managed: distinct devices on the latest NinjaRMM
  snapshot date within the month; spare = "spare" (case-insensitive) in the
  display name, host name or location name; internal organizations and VM
  guests never count; seats also drop the seat-excluded node classes.
- P&L categories: the sum of `profit_and_loss` amounts of the accounts that
  CHART_OF_ACCOUNTS puts in the category. Unmapped accounts (category None)
  are reported by the warehouse, never added to a total.
- agreements: managed-type agreements active on the month's last day
  (agreements of the MSP's own company, if any, are not counted).
  new_agreements: managed-type agreements whose startDate is in the month
  (METRICS.md says "agreements starting in the month"; only managed types are
  counted so block-time and project agreements are not mistaken for sales).
- Client MRR: billAmount of managed-type agreements with the monthly billing
  cycle active on the month's last day. new_mrr: sum of this month's MRR of
  clients at 0 last month; lost_mrr: sum of last month's MRR of clients at 0
  this month. Internal organizations are excluded.
- Internal companies' reactive tickets and hours count in the MSP-wide
  ticket metrics unless config.count_internal_reactive_work is False (the
  seed excluded_organizations.count_reactive_work).
- A month outside [msp.start_month, msp.end_month] is None for every key but
  the agreement ones; a device metric is None when the month has no
  snapshot. Agreement keys (agreements, new_agreements, new_mrr, lost_mrr)
  have their own coverage: agreement history is in the start/end dates, so
  they are known from the month the earliest agreement starts up to
  end_month, also before the first ticket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.generator.names import normalize_name
from sandbox.msp import (
    CHART_OF_ACCOUNTS,
    DEFAULT_CONFIG,
    MAPPED_IDENTIFIER,
    MAPPED_NINJA_ORG,
    MAPPED_QBO_CUSTOMER,
    MSP,
    Config,
)

MONTHLY_KEYS = (
    "reactive_tickets_created",
    "reactive_tickets_closed",
    "reactive_time_spent",
    "endpoints_managed",
    "seats_managed",
    "nrr",
    "mrr",
    "orr",
    "product_sales",
    "misc_revenue",
    "total_revenue",
    "employee_expense",
    "owner_comp_taxes",
    "owner_comp",
    "product_cogs",
    "other_expenses",
    "total_expenses",
    "net_profit",
    "agreements",
    "new_agreements",
    "new_mrr",
    "lost_mrr",
)
REVENUE = ("nrr", "mrr", "orr", "product_sales", "misc_revenue")
EXPENSES = ("employee_expense", "owner_comp_taxes", "owner_comp", "product_cogs", "other_expenses")


# -- time -------------------------------------------------------------------------------


def _month(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _last_day(month: date) -> date:
    return _next_month(month) - timedelta(days=1)


def _bounds(month: date, tz: str) -> tuple[str, str]:
    """The month's local-midnight bounds as ConnectWise UTC strings.

    ConnectWise timestamps all have the fixed form 2025-01-03T15:22:10Z, so
    comparing strings compares instants (and is much faster than parsing)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(month, time(), zone).astimezone(UTC)
    end = datetime.combine(_next_month(month), time(), zone).astimezone(UTC)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cw_date(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


def _covered(msp: MSP, month: date) -> bool:
    return msp.start_month <= month <= msp.end_month


AGREEMENT_KEYS = ("agreements", "new_agreements", "new_mrr", "lost_mrr")


def agreements_covered(msp: MSP, month: date) -> bool:
    """Agreement positions are known from the earliest agreement's start month."""
    starts = [_cw_date(a["startDate"]) for a in msp.cw_agreements if a.get("startDate")]
    if not starts or month > msp.end_month:
        return False
    first = min(starts)
    return (month.year, month.month) >= (first.year, first.month)


# -- tickets and time ----------------------------------------------------------------------


def _reactive_tickets(msp: MSP, config: Config) -> dict[int, dict]:
    boards = set(config.reactive_boards)
    return {t["id"]: t for t in msp.cw_tickets if t["board"]["name"] in boards}


def _ticket_metrics(msp: MSP, month: date, config: Config) -> dict[int, list]:
    """Per ConnectWise company: [created, closed, hours (Decimal)] for the month."""
    start, end = _bounds(month, config.timezone)
    closed_statuses = set(config.closed_statuses)
    reactive = _reactive_tickets(msp, config)
    out: dict[int, list] = defaultdict(lambda: [0, 0, Decimal("0")])
    for t in reactive.values():
        if t["parentTicketId"] is not None:
            continue
        company = t["company"]["id"]
        if start <= t["_info"]["dateEntered"] < end:
            out[company][0] += 1
        closed_at = t.get("closedDate")
        if t["status"]["name"] in closed_statuses and closed_at and start <= closed_at < end:
            out[company][1] += 1
    for e in msp.cw_time_entries:
        if e["chargeToType"] != "ServiceTicket":
            continue
        ticket = reactive.get(e["chargeToId"])
        if ticket is not None and start <= e["dateEntered"] < end:
            out[ticket["company"]["id"]][2] += Decimal(str(e["actualHours"]))
    return out


# -- devices -----------------------------------------------------------------------------


def _is_spare(row: dict, pattern: str) -> bool:
    pattern = pattern.lower()
    return any(pattern in (row.get(k) or "").lower()
               for k in ("display_name", "hostname", "location_name"))  # fmt: skip


def latest_snapshot_date(msp: MSP, month: date, vendor: str = "NinjaRMM") -> date | None:
    days = [
        d for d in msp.snapshot_dates(vendor) if d.year == month.year and d.month == month.month
    ]
    return max(days) if days else None


def _billable_devices(msp: MSP, month: date, config: Config) -> list[dict] | None:
    """Rows of the billable devices on the month's latest snapshot, one per device."""
    day = latest_snapshot_date(msp, month)
    if day is None:
        return None
    internal = set(config.internal_organizations)
    guests = set(config.vm_guest_node_classes)
    seen: dict[str, dict] = {}
    for row in msp.iter_device_snapshots("NinjaRMM", start=day, end=day):
        if row["organization_name"] in internal or row["node_class"] in guests:
            continue
        if _is_spare(row, config.spare_pattern):
            continue
        seen.setdefault(row["vendor_device_key"], row)
    return list(seen.values())


def device_counts(rows: Iterable[dict], config: Config = DEFAULT_CONFIG) -> tuple[int, int]:
    """(endpoints, seats) of one day's snapshot rows, by the METRICS.md rule."""
    internal = set(config.internal_organizations)
    guests = set(config.vm_guest_node_classes)
    excluded = set(config.seat_excluded_node_classes)
    endpoints: set[str] = set()
    seats: set[str] = set()
    for row in rows:
        if row["organization_name"] in internal or row["node_class"] in guests:
            continue
        if _is_spare(row, config.spare_pattern):
            continue
        endpoints.add(row["vendor_device_key"])
        if row["node_class"] not in excluded:
            seats.add(row["vendor_device_key"])
    return len(endpoints), len(seats)


def security_coverage(msp: MSP, period: str, config: Config = DEFAULT_CONFIG) -> float | None:
    """Share of billable endpoints whose host name is also in ThreatLocker's latest
    snapshot of the month (METRICS.md endpoint_security_coverage_pct); None
    where either inventory has no snapshot in the month."""
    month = _month(period)
    rows = _billable_devices(msp, month, config)
    tl_day = latest_snapshot_date(msp, month, "ThreatLocker")
    if not rows or tl_day is None:
        return None
    secured = {(r["hostname"] or "").lower()
               for r in msp.iter_device_snapshots("ThreatLocker", start=tl_day, end=tl_day)}  # fmt: skip
    return sum(1 for r in rows if (r["hostname"] or "").lower() in secured) / len(rows)


# -- profit and loss ------------------------------------------------------------------------


def _pnl_categories(msp: MSP, month: date) -> dict[str, Decimal]:
    category = {a["id"]: a["category"] for a in CHART_OF_ACCOUNTS}
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for (account, _), amount in msp.profit_and_loss(month, month).items():
        cat = category.get(account)
        if cat is not None:
            sums[cat] += amount
    return sums


# -- agreements -----------------------------------------------------------------------------


def _active(a: dict, day: date) -> bool:
    start, end = _cw_date(a["startDate"]), _cw_date(a.get("endDate"))
    cancelled = _cw_date(a.get("dateCancelled"))
    return start <= day and (end is None or end >= day) and (cancelled is None or cancelled > day)


def _internal_company_ids(msp: MSP, config: Config) -> set[int]:
    internal = set(config.internal_organizations)
    return {c["id"] for c in msp.cw_companies if c["name"] in internal}


def client_mrr(msp: MSP, day: date, config: Config = DEFAULT_CONFIG) -> dict[int, Decimal]:
    """Managed monthly agreement MRR per ConnectWise company on `day` (zeros omitted)."""
    managed = set(config.managed_agreement_types)
    internal = _internal_company_ids(msp, config)
    out: dict[int, Decimal] = defaultdict(Decimal)
    for a in msp.cw_agreements:
        if a["type"]["name"] not in managed or a["company"]["id"] in internal:
            continue
        if a["billingCycle"]["name"] != config.mrr_billing_cycle or not _active(a, day):
            continue
        out[a["company"]["id"]] += Decimal(str(a["billAmount"]))
    return {k: v for k, v in out.items() if v > 0}


def _agreement_metrics(msp: MSP, month: date, config: Config) -> dict[str, float]:
    managed = set(config.managed_agreement_types)
    last = _last_day(month)
    internal = _internal_company_ids(msp, config)
    active = started = 0
    for a in msp.cw_agreements:
        if a["type"]["name"] not in managed or a["company"]["id"] in internal:
            continue
        if _active(a, last):
            active += 1
        start = _cw_date(a["startDate"])
        if start.year == month.year and start.month == month.month:
            started += 1
    now = client_mrr(msp, last, config)
    before = client_mrr(msp, month - timedelta(days=1), config)
    new = sum((v for k, v in now.items() if k not in before), Decimal("0"))
    lost = sum((v for k, v in before.items() if k not in now), Decimal("0"))
    return {"agreements": active, "new_agreements": started, "new_mrr": float(new),
            "lost_mrr": float(lost)}  # fmt: skip


# -- public ---------------------------------------------------------------------------------


def monthly_inputs(msp: MSP, period: str, config: Config = DEFAULT_CONFIG) -> dict[str, Any]:
    """Every METRICS.md §1 collected input for `period` ('YYYY-MM')."""
    month = _month(period)
    out: dict[str, Any] = dict.fromkeys(MONTHLY_KEYS)
    if agreements_covered(msp, month):
        out.update(_agreement_metrics(msp, month, config))
    if not _covered(msp, month):
        return out
    per_company = _ticket_metrics(msp, month, config)
    if not config.count_internal_reactive_work:
        internal = _internal_company_ids(msp, config)
        per_company = {k: v for k, v in per_company.items() if k not in internal}
    tickets = per_company.values()
    out.update(reactive_tickets_created=sum(v[0] for v in tickets),
               reactive_tickets_closed=sum(v[1] for v in tickets),
               reactive_time_spent=float(sum((v[2] for v in tickets), Decimal("0"))))  # fmt: skip
    rows = _billable_devices(msp, month, config)
    if rows is not None:
        endpoints, seats = device_counts(rows, config)
        out.update(endpoints_managed=endpoints, seats_managed=seats)
    sums = _pnl_categories(msp, month)
    for key in (*REVENUE, *EXPENSES):
        out[key] = float(sums.get(key, Decimal("0")))
    revenue = sum((sums.get(k, Decimal("0")) for k in REVENUE), Decimal("0"))
    expenses = sum((sums.get(k, Decimal("0")) for k in EXPENSES), Decimal("0"))
    out.update(total_revenue=float(revenue), total_expenses=float(expenses),
               net_profit=float(revenue - expenses))  # fmt: skip
    return out


def company_for_org(msp: MSP, config: Config = DEFAULT_CONFIG) -> dict[str, int]:
    """NinjaOne organization name -> ConnectWise company id: the mapping seed's one
    entry (BRV-Clinic -> BlueRidgeVet) first, then normalized names."""
    by_key = {normalize_name(c["name"]): c["id"] for c in msp.cw_companies}
    by_ident = {c["identifier"]: c["id"] for c in msp.cw_companies}
    out = {}
    for org in msp.ninja_organizations:
        if org["name"] == MAPPED_NINJA_ORG and MAPPED_IDENTIFIER in by_ident:
            out[org["name"]] = by_ident[MAPPED_IDENTIFIER]
        elif normalize_name(org["name"]) in by_key:
            out[org["name"]] = by_key[normalize_name(org["name"])]
    return out


def company_for_customer(msp: MSP) -> dict[str, int]:
    """QuickBooks customer Id -> ConnectWise company id (jobs roll up to their parent)."""
    by_key = {normalize_name(c["name"]): c["id"] for c in msp.cw_companies}
    by_ident = {c["identifier"]: c["id"] for c in msp.cw_companies}
    out: dict[str, int] = {}
    for cust in msp.qbo_customers:
        if cust.get("ParentRef"):
            continue
        if cust["DisplayName"] == MAPPED_QBO_CUSTOMER and MAPPED_IDENTIFIER in by_ident:
            out[cust["Id"]] = by_ident[MAPPED_IDENTIFIER]
        elif normalize_name(cust["DisplayName"]) in by_key:
            out[cust["Id"]] = by_key[normalize_name(cust["DisplayName"])]
    for cust in msp.qbo_customers:
        parent = (cust.get("ParentRef") or {}).get("value")
        if parent in out:
            out[cust["Id"]] = out[parent]
    return out


def client_monthly(msp: MSP, period: str, config: Config = DEFAULT_CONFIG) -> dict[int, dict]:
    """Per ConnectWise company (internal and vendor companies excluded): endpoints,
    seats, reactive tickets created/closed, reactive hours and agreement MRR.
    Empty for a month outside coverage; endpoints/seats None when the month
    has no snapshot."""
    month = _month(period)
    if not _covered(msp, month):
        return {}
    internal = _internal_company_ids(msp, config)
    companies = [c for c in msp.cw_companies if c["id"] not in internal and not c["isVendorFlag"]]
    rows = _billable_devices(msp, month, config)
    org_map = company_for_org(msp, config)
    per_company: dict[int, list[dict]] = defaultdict(list)
    for row in rows or []:
        cid = org_map.get(row["organization_name"])
        if cid is not None:
            per_company[cid].append(row)
    mrr = client_mrr(msp, _last_day(month), config)
    tickets = _ticket_metrics(msp, month, config)
    out = {}
    for c in companies:
        created, closed, hours = tickets.get(c["id"], (0, 0, Decimal("0")))
        endpoints = seats = None
        if rows is not None:
            endpoints, seats = device_counts(per_company.get(c["id"], []), config)
        out[c["id"]] = {"name": c["name"], "endpoints": endpoints, "seats": seats,
                        "reactive_tickets_created": created, "reactive_tickets_closed": closed,
                        "reactive_time_spent": float(hours),
                        "agreement_mrr": float(mrr.get(c["id"], Decimal("0")))}  # fmt: skip
    return out
