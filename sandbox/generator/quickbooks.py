"""QuickBooks Online: customers, items, invoices, payments, credit memos, the P&L.

Billing follows ConnectWise: on the 1st of each month every client gets an
invoice for its active monthly managed agreements (seat, server and security
lines whose amounts add up to the agreements' billAmount), last month's
hourly and project labour, block-time purchases, annual renewals and late
fees. Hardware invoices (with a 5% discount line above $3,000) come on other
days and carry cost of goods sold. Expenses, interest and depreciation are
journal postings.

The P&L is derived, never stored: income accounts are exactly the invoice
line sums per item income account per TxnDate month (minus credit memos and
discounts), plus postings - as of the clock, so a back-dated posting or
invoice edit keyed in after a month closed changes that old month once the
clock passes the moment it was keyed in.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from sandbox.generator.clients import active_on
from sandbox.generator.connectwise import agreements_of, techs_on
from sandbox.generator.devices import devices_in_month
from sandbox.generator.timeutil import (
    add_months,
    local_date,
    local_dt,
    month_end,
    month_start,
    qbo_ts,
)
from sandbox.generator.world import Client, CreditMemoPlan, InvoicePlan, Line, Posting, World
from sandbox.msp import ACCOUNTS_BY_ID, CHART_OF_ACCOUNTS

CENT = Decimal("0.01")
# key: (Id, Name, Type, income account, expense (COGS) account, unit price)
ITEMS: dict[str, tuple[str, str, str, str, str | None, str]] = {
    "seat": ("1", "Managed Services - Per Seat", "Service", "40", None, "110.00"),
    "server": ("2", "Managed Services - Server", "Service", "40", None, "225.00"),
    "security": ("3", "Managed Security", "Service", "41", None, "12.00"),
    "annual_managed": ("4", "Managed Services - Annual Prepay", "Service", "44", None, "0"),
    "license_annual": ("5", "Microsoft 365 Business Premium - Annual", "Service", "45", "51",
                       "264.00"),
    "remote_hourly": ("6", "Remote Support - Hourly", "Service", "42", None, "150.00"),
    "onsite_hourly": ("7", "Onsite Support - Hourly", "Service", "42", None, "175.00"),
    "project_labor": ("8", "Project Labor", "Service", "43", None, "165.00"),
    "block_time": ("9", "Block Time - 10 Hours", "Service", "42", None, "1650.00"),
    "workstation": ("10", "Workstation", "NonInventory", "46", "50", "1150.00"),
    "laptop": ("11", "Laptop", "NonInventory", "46", "50", "1390.00"),
    "firewall": ("12", "Firewall", "NonInventory", "46", "50", "895.00"),
    "switch": ("13", "Network Switch", "NonInventory", "46", "50", "420.00"),
    "monitor": ("14", "Monitor", "NonInventory", "46", "50", "210.00"),
    "late_fee": ("15", "Late Fee", "Service", "48", None, "25.00"),
}  # fmt: skip
BALANCE_SHEET = [
    ("1", "Checking", "Bank", "Checking"),
    ("2", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("3", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
]
USD = {"value": "USD", "name": "United States Dollar"}
HARDWARE_COGS_RATE = Decimal("0.75")
LICENSE_COGS_RATE = Decimal("0.80")
JOB_NAME = "Office Expansion Project"


def price(key: str) -> Decimal:
    return Decimal(ITEMS[key][5])


def account_of(item_key: str) -> str:
    return ITEMS[item_key][3]


# -- planning ---------------------------------------------------------------------


def plan_customers(world: World) -> None:
    """QuickBooks customers in creation order; the wave client also has a job."""
    billed = [c for c in world.clients if c.kind == "client"]
    for i, c in enumerate(sorted(billed, key=lambda c: (c.service_start, c.key)), start=1):
        c.qbo_id = str(57 + i)
        c.qbo_created = local_dt(c.service_start - timedelta(days=5), 11, 20)
    job_client = world.client_with_role("onboarding_wave")
    if job_client is not None:
        job_client.qbo_job_id = str(57 + len(billed) + 1)
        world.events["onboarding_wave"]["qbo_job"] = f"{job_client.names.qbo}:{JOB_NAME}"


def _new_invoice(world: World, rng: random.Random, c: Client, customer_id: str, day: date,
                 created: datetime, lines: list[Line], memo: str | None = None,
                 discount: Decimal | None = None) -> InvoicePlan:  # fmt: skip
    inv = InvoicePlan(seq=world.seq(), client=c, customer_id=customer_id, txn_date=day,
                      created_at=created, lines=lines, memo=memo,
                      discount_pct=discount)  # fmt: skip
    r = rng.random()
    if c.slow_payer:
        delay = None if r < 0.12 else rng.randint(40, 130)
    else:
        delay = None if r < 0.01 else rng.randint(3, 35)
    if delay is not None:
        inv.paid_at = local_dt(day + timedelta(days=delay), rng.randint(9, 16), rng.randint(0, 59))
    world.invoices.append(inv)
    return inv


def _billable_index(world: World) -> dict[tuple[int, date, str], Decimal]:
    """Hours to invoice per (client, month of work, item), kept up to date incrementally."""
    index = world.cache.setdefault("billable", defaultdict(Decimal))
    cursor = world.cache.get("billable_cursor", 0)
    for e in world.entries[cursor:]:
        if e.invoice_item:
            index[(e.client.key, month_start(local_date(e.start)), e.invoice_item)] += e.hours
    world.cache["billable_cursor"] = len(world.entries)
    return index


def plan_month(world: World, month: date) -> None:
    rng = world.rng("qbo-month", month.isoformat())
    previous = add_months(month, -1)
    hours = _billable_index(world)
    first_invoice = None
    for c in world.clients:
        if c.kind != "client" or c.qbo_id is None:
            continue
        lines: list[Line] = []
        job_lines: list[Line] = []
        for a in agreements_of(world, c):
            if not active_on(a, month):
                continue
            if a.type_name == "Managed Services" and a.cycle == "Monthly":
                if a.seats:
                    lines.append(Line("seat", "Managed services - workstations", Decimal(a.seats),
                                      a.seat_price))  # fmt: skip
                if a.servers:
                    lines.append(Line("server", "Managed services - servers",
                                      Decimal(a.servers), a.server_price))  # fmt: skip
            elif a.type_name == "Managed Security":
                lines.append(Line("security", "Managed security - endpoints", Decimal(a.seats),
                                  a.seat_price))  # fmt: skip
            elif a.type_name == "Managed Services" and a.start.month == month.month:
                lines.append(Line("annual_managed", f"Managed services {month.year}-"
                                  f"{month.year + 1}", Decimal(1), a.amount))  # fmt: skip
            if a.type_name == "Block Time" and a.start == month:
                lines.append(Line("block_time", "Prepaid block of 10 hours", Decimal(1),
                                  price("block_time")))  # fmt: skip
        for key, label in (("remote_hourly", "Remote support"), ("onsite_hourly", "Onsite")):
            qty = hours.get((c.key, previous, key))
            if qty:
                lines.append(Line(key, f"{label} {previous:%B %Y}", qty, price(key)))
        qty = hours.get((c.key, previous, "project_labor"))
        if qty:
            target = job_lines if c.qbo_job_id else lines
            target.append(Line("project_labor", f"Project labor {previous:%B %Y}", qty,
                               price("project_labor")))  # fmt: skip
        if c.license_renewal and c.in_service(month) and month.month == c.since.month:
            seats = max(1, devices_in_month(world, c, previous))
            line = Line("license_annual", "Microsoft 365 annual renewal", Decimal(seats),
                        price("license_annual"))  # fmt: skip
            lines.append(line)
            world.postings.append(Posting(month, "51", (line.amount * LICENSE_COGS_RATE)
                                          .quantize(CENT), local_dt(month, 10)))  # fmt: skip
        if c.slow_payer and lines and month.month % 3 == 0:
            lines.append(Line("late_fee", "Late payment fee", Decimal(1), price("late_fee")))
        created = local_dt(month, 6, rng.randint(0, 40), rng.randint(0, 59))
        if lines:
            inv = _new_invoice(world, rng, c, c.qbo_id, month, created, lines,
                               memo=f"Services for {month:%B %Y}")  # fmt: skip
            first_invoice = first_invoice or inv
        if job_lines:
            _new_invoice(world, rng, c, c.qbo_job_id, month, created + timedelta(minutes=3),
                         job_lines, memo=f"{JOB_NAME} - {previous:%B %Y}")  # fmt: skip
    if month == world.months[len(world.months) // 2] and first_invoice is not None:
        dup = _new_invoice(world, rng, first_invoice.client, first_invoice.customer_id, month,
                           first_invoice.created_at + timedelta(minutes=5),
                           list(first_invoice.lines), memo=first_invoice.memo)  # fmt: skip
        dup.paid_at = None
        dup.delete_at = dup.created_at + timedelta(hours=2)
        world.cache["duplicate_invoice"] = dup
    if rng.random() < 0.25:
        managed = [c for c in world.clients if c.billing == "managed" and c.in_service(month)]
        if managed:
            c = rng.choice(managed)
            day = month + timedelta(days=rng.randint(9, 19))
            amount = Decimal(rng.randint(50, 300))
            world.credit_memos.append(CreditMemoPlan(
                seq=world.seq(), client=c, txn_date=day, created_at=local_dt(day, 13, 5),
                lines=[Line("seat", "Service credit - outage", Decimal(1), amount)]))  # fmt: skip
    _plan_postings(world, rng, month)


def _first_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def plan_day(world: World, day: date) -> None:
    """Hardware sales: a trickle, plus the onboarding wave's and new clients' orders."""
    if day.weekday() >= 5:
        return
    rng = world.rng("qbo-day", day.isoformat())
    wave = world.events["onboarding_wave"]
    for c in world.clients:
        if c.kind != "client" or c.qbo_id is None or not c.in_service(day):
            continue
        lines: list[Line] = []
        if "onboarding_wave" in c.roles and day == _first_weekday(wave["month"] + timedelta(2)):
            count = Decimal(world.cache.get("wave_devices", 12))
            lines = [Line("workstation", "Workstations for new staff", count, price("workstation")),
                     Line("monitor", "Monitors", count, price("monitor"))]  # fmt: skip
        elif c.onboard_month and day == _first_weekday(c.onboard_month + timedelta(1)):
            lines = [Line("firewall", "Firewall", Decimal(1), price("firewall")),
                     Line("switch", "Core switch", Decimal(1), price("switch"))]  # fmt: skip
        elif rng.random() < 0.12 * 12 / 365 * 7 / 5:
            for key in rng.sample(["workstation", "laptop", "firewall", "switch", "monitor"],
                                  k=rng.randint(1, 2)):  # fmt: skip
                qty = 1 if key in ("firewall", "switch") else rng.randint(1, 4)
                lines.append(Line(key, ITEMS[key][1], Decimal(qty), price(key)))
        if not lines:
            continue
        gross = sum((ln.amount for ln in lines), Decimal("0"))
        discount = Decimal("5") if gross > 3000 else None
        created = local_dt(day, rng.randint(9, 16), rng.randint(0, 59))
        _new_invoice(world, rng, c, c.qbo_id, day, created, lines, discount=discount)
        world.postings.append(Posting(day, "50", (gross * HARDWARE_COGS_RATE).quantize(CENT),
                                      created))  # fmt: skip


def _plan_postings(world: World, rng: random.Random, month: date) -> None:
    """A month of expense, COGS and interest journal postings (demo scale x s)."""
    s = world.preset.endpoints / 600
    last = month_end(month)

    def on(day: int) -> date:
        return month.replace(day=min(day, last.day))

    def post(day: date, account: str, amount: float | Decimal) -> None:
        value = Decimal(str(amount)).quantize(CENT)
        if value:
            world.postings.append(Posting(day, account, value, local_dt(day, 10, 30)))

    def jitter(base: float, spread: float = 0.1) -> float:
        return base * (1 + rng.uniform(-spread, spread))

    techs = len(techs_on(world, on(15)))
    tech_wages = techs * 4000 / 2
    admin_wages = 5000 * s / 2
    officer = 9000 * s**0.7 / 2
    for day in (on(15), last):
        post(day, "61", tech_wages)
        post(day, "62", admin_wages)
        post(day, "64", officer)
        post(day, "63", (tech_wages + admin_wages + officer) * 0.0765)
    post(on(1), "65", techs * 500 + 1000 * s)
    if month.month in (1, 4, 6, 9):
        post(on(15), "66", 8000 * s**0.7)
    post(on(1), "70", 4200 * s**0.7)
    post(on(20), "71", jitter(520 * s**0.7, 0.15))
    devices = sum(devices_in_month(world, c, month) for c in world.clients if c.ninja_org_id)
    post(on(5), "72", devices * 9.5)
    post(on(10), "73", 820 * s**0.7)
    if rng.random() < 0.4:
        post(on(rng.randint(1, 28)), "74", rng.uniform(600, 2400) * s**0.5)
    post(on(12), "75", jitter(1400 * s**0.7, 0.3))
    if rng.random() < 0.5:
        post(on(rng.randint(1, 28)), "76", rng.uniform(150, 900) * s**0.5)
    post(on(rng.randint(1, 28)), "77", rng.uniform(200, 600) * s**0.5)
    post(last, "78", rng.uniform(90, 180))
    post(on(8), "79", jitter(650))
    if rng.random() < 0.3:
        post(on(rng.randint(1, 28)), "80", rng.uniform(300, 1500) * s**0.5)
    if rng.random() < 0.3:
        post(on(rng.randint(1, 28)), "89", rng.uniform(40, 400))
    post(on(28), "95", 180 * s**0.5)
    post(last, "96", 800 * s**0.7)
    if rng.random() < 0.4:
        post(on(rng.randint(1, 28)), "52", rng.uniform(500, 3000) * s**0.5)
    post(last, "90", rng.uniform(15, 60) * s)


def plan_backdated_entry(world: World) -> None:
    """Keyed in 12 hours after the build clock, dated in a closed month: the first
    advance() makes an old month's P&L change and an invoice's LastUpdatedTime move."""
    ev = world.events["backdated_entry"]
    month = ev["month"]
    keyed = world.now + timedelta(hours=12)
    inv = next(i for i in world.invoices
               if i.txn_date == month and i.client.billing == "managed" and i.delete_at is None
               and i.customer_id == i.client.qbo_id)  # fmt: skip
    inv.edit_at = keyed
    inv.edit_lines = [Line("project_labor", "Project labor omitted from original invoice",
                           Decimal("6"), price("project_labor"))]  # fmt: skip
    world.postings.append(Posting(month_end(month), "74", Decimal("1850.00"), keyed))
    world.cache["backdated_invoice"] = inv
    ev.update({"keyed_at": keyed, "invoice_account_id": "43", "invoice_amount": 990.0,
               "journal_account_id": "74", "journal_amount": 1850.0,
               "journal_date": month_end(month)})  # fmt: skip


# -- P&L ----------------------------------------------------------------------------


def _visible(created: datetime, delete_at: datetime | None, now: datetime) -> bool:
    return created <= now and (delete_at is None or delete_at > now)


def invoice_lines(inv: InvoicePlan, now: datetime) -> list[Line]:
    if inv.edit_at is not None and inv.edit_at <= now:
        return inv.lines + inv.edit_lines
    return inv.lines


def discount_amount(inv: InvoicePlan, lines: list[Line]) -> Decimal:
    if not inv.discount_pct:
        return Decimal("0")
    gross = sum((ln.amount for ln in lines), Decimal("0"))
    return (gross * inv.discount_pct / 100).quantize(CENT)


def profit_and_loss(world: World, now: datetime, start: date, end: date
                    ) -> dict[tuple[str, date], Decimal]:  # fmt: skip
    first, last = month_start(start), month_start(end)
    out: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for inv in world.invoices:
        month = month_start(inv.txn_date)
        if not first <= month <= last or not _visible(inv.created_at, inv.delete_at, now):
            continue
        lines = invoice_lines(inv, now)
        for ln in lines:
            out[(account_of(ln.item), month)] += ln.amount
        disc = discount_amount(inv, lines)
        if disc:
            out[("47", month)] -= disc
    for cm in world.credit_memos:
        month = month_start(cm.txn_date)
        if first <= month <= last and cm.created_at <= now:
            for ln in cm.lines:
                out[(account_of(ln.item), month)] -= ln.amount
    for p in world.postings:
        month = month_start(p.day)
        if first <= month <= last and p.entered_at <= now:
            out[(p.account_id, month)] += p.amount
    return {k: v for k, v in sorted(out.items()) if v}


# -- rendering -------------------------------------------------------------------------


def _meta(created: datetime, updated: datetime) -> dict:
    return {"CreateTime": qbo_ts(created), "LastUpdatedTime": qbo_ts(max(created, updated))}


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT))


def render_accounts(world: World) -> list[dict]:
    created = local_dt(world.start_month.replace(year=world.start_month.year - 6), 9)
    meta = _meta(created, created)
    out = []
    for id_, name, atype, sub in BALANCE_SHEET:
        out.append({"Id": id_, "Name": name, "SubAccount": False, "FullyQualifiedName": name,
                    "Active": True, "Classification": "Asset", "AccountType": atype,
                    "AccountSubType": sub, "CurrentBalance": 0.0,
                    "CurrentBalanceWithSubAccounts": 0.0, "CurrencyRef": USD, "domain": "QBO",
                    "sparse": False, "SyncToken": "0", "MetaData": meta})  # fmt: skip
    for a in CHART_OF_ACCOUNTS:
        rec = {"Id": a["id"], "Name": a["name"], "SubAccount": a["parent_id"] is not None,
               "FullyQualifiedName": a["fully_qualified_name"], "Active": True,
               "Classification": "Revenue" if a["account_type"] in ("Income", "Other Income")
               else "Expense",
               "AccountType": a["account_type"], "AccountSubType": a["account_sub_type"],
               "CurrentBalance": 0.0, "CurrentBalanceWithSubAccounts": 0.0, "CurrencyRef": USD,
               "domain": "QBO", "sparse": False, "SyncToken": "0", "MetaData": meta}  # fmt: skip
        if a["parent_id"]:
            rec["ParentRef"] = {"value": a["parent_id"]}
        out.append(rec)
    return sorted(out, key=lambda r: int(r["Id"]))


def render_items(world: World) -> list[dict]:
    created = local_dt(world.start_month.replace(year=world.start_month.year - 5), 9)
    out = []
    for id_, name, itype, income, expense, unit in ITEMS.values():
        rec = {"Id": id_, "Name": name, "FullyQualifiedName": name, "Description": name,
               "Active": True, "Type": itype, "UnitPrice": float(Decimal(unit)),
               "Taxable": False, "TrackQtyOnHand": False,
               "IncomeAccountRef": {"value": income, "name": ACCOUNTS_BY_ID[income]["name"]},
               "domain": "QBO", "sparse": False, "SyncToken": "0",
               "MetaData": _meta(created, created)}  # fmt: skip
        if expense:
            rec["ExpenseAccountRef"] = {"value": expense, "name": ACCOUNTS_BY_ID[expense]["name"]}
            rec["PurchaseCost"] = float((Decimal(unit) * HARDWARE_COGS_RATE).quantize(CENT))
        out.append(rec)
    return sorted(out, key=lambda r: int(r["Id"]))


def _customer_name(world: World, customer_id: str) -> str:
    names = world.cache.get("qbo_names")
    if names is None:
        names = {}
        for c in world.clients:
            if c.qbo_id:
                names[c.qbo_id] = c.names.qbo
            if c.qbo_job_id:
                names[c.qbo_job_id] = f"{c.names.qbo}:{JOB_NAME}"
        world.cache["qbo_names"] = names
    return names[customer_id]


def _sales_line(n: int, ln: Line) -> dict:
    _, name, _, income, _, _ = ITEMS[ln.item]
    return {"Id": str(n), "LineNum": n, "Description": ln.description, "Amount": _money(ln.amount),
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": ITEMS[ln.item][0], "name": name},
                                    "UnitPrice": float(ln.unit_price), "Qty": float(ln.qty),
                                    "ItemAccountRef": {"value": income,
                                                       "name": ACCOUNTS_BY_ID[income]["name"]},
                                    "TaxCodeRef": {"value": "NON"}}}  # fmt: skip


def render_invoice(world: World, inv: InvoicePlan, now: datetime) -> dict:
    lines = invoice_lines(inv, now)
    out_lines: list[dict] = []
    n = 1
    if inv.memo:
        out_lines.append({"Id": str(n), "LineNum": n, "Description": inv.memo,
                          "DetailType": "DescriptionOnly", "DescriptionLineDetail": {}})  # fmt: skip
        n += 1
    for ln in lines:
        out_lines.append(_sales_line(n, ln))
        n += 1
    subtotal = sum((ln.amount for ln in lines), Decimal("0"))
    out_lines.append({"Amount": _money(subtotal), "DetailType": "SubTotalLineDetail",
                      "SubTotalLineDetail": {}})  # fmt: skip
    disc = discount_amount(inv, lines)
    if disc:
        out_lines.append({"Id": str(n), "LineNum": n, "Amount": _money(disc),
                          "DetailType": "DiscountLineDetail",
                          "DiscountLineDetail": {"PercentBased": True,
                                                 "DiscountPercent": float(inv.discount_pct),
                                                 "DiscountAccountRef": {"value": "47",
                                                                        "name": "Discounts Given"}}})  # fmt: skip
    total = subtotal - disc
    paid = inv.paid_at is not None and inv.paid_at <= now
    original = sum((ln.amount for ln in inv.lines), Decimal("0"))
    original -= discount_amount(inv, inv.lines)
    balance = total - original if paid else total
    edited = inv.edit_at is not None and inv.edit_at <= now
    stamps = [inv.created_at]
    if paid:
        stamps.append(inv.paid_at)
    if edited:
        stamps.append(inv.edit_at)
    rec = {
        "Id": inv.id, "SyncToken": str(int(paid) + int(edited)), "domain": "QBO", "sparse": False,
        "DocNumber": inv.doc_number, "TxnDate": inv.txn_date.isoformat(),
        "DueDate": (inv.txn_date + timedelta(days=30)).isoformat(),
        "CustomerRef": {"value": inv.customer_id, "name": _customer_name(world, inv.customer_id)},
        "SalesTermRef": {"value": "3", "name": "Net 30"},
        "TotalAmt": _money(total), "Balance": _money(balance),
        "ApplyTaxAfterDiscount": False, "PrintStatus": "NotSet", "EmailStatus": "EmailSent",
        "TxnTaxDetail": {"TotalTax": 0}, "CurrencyRef": USD,
        "LinkedTxn": [{"TxnId": inv.payment_id, "TxnType": "Payment"}] if paid else [],
        "Line": out_lines, "CustomField": [],
        "MetaData": _meta(inv.created_at, max(stamps)),
    }  # fmt: skip
    return rec


def render_payment(world: World, inv: InvoicePlan) -> dict:
    amount = sum((ln.amount for ln in inv.lines), Decimal("0")) - discount_amount(inv, inv.lines)
    return {
        "Id": inv.payment_id, "SyncToken": "0", "domain": "QBO", "sparse": False,
        "TxnDate": local_date(inv.paid_at).isoformat(),
        "CustomerRef": {"value": inv.customer_id, "name": _customer_name(world, inv.customer_id)},
        "DepositToAccountRef": {"value": "3"}, "TotalAmt": _money(amount), "UnappliedAmt": 0.0,
        "ProcessPayment": False, "CurrencyRef": USD,
        "Line": [{"Amount": _money(amount),
                  "LinkedTxn": [{"TxnId": inv.id, "TxnType": "Invoice"}]}],
        "MetaData": _meta(inv.paid_at, inv.paid_at),
    }  # fmt: skip


def render_credit_memo(world: World, cm: CreditMemoPlan) -> dict:
    total = sum((ln.amount for ln in cm.lines), Decimal("0"))
    lines = [_sales_line(i, ln) for i, ln in enumerate(cm.lines, start=1)]
    lines.append({"Amount": _money(total), "DetailType": "SubTotalLineDetail",
                  "SubTotalLineDetail": {}})  # fmt: skip
    return {
        "Id": cm.id, "SyncToken": "0", "domain": "QBO", "sparse": False,
        "DocNumber": cm.doc_number, "TxnDate": cm.txn_date.isoformat(),
        "CustomerRef": {"value": cm.client.qbo_id, "name": cm.client.names.qbo},
        "TotalAmt": _money(total), "Balance": _money(total), "RemainingCredit": _money(total),
        "PrivateNote": "Service credit", "CurrencyRef": USD, "Line": lines,
        "MetaData": _meta(cm.created_at, cm.created_at),
    }  # fmt: skip


def render_customers(world: World, now: datetime, invoices: list[dict], credit_memos: list[dict]
                     ) -> list[dict]:  # fmt: skip
    balance: dict[str, Decimal] = defaultdict(Decimal)
    touched: dict[str, datetime] = {}

    def touch(cid: str, meta: dict) -> None:
        moment = datetime.fromisoformat(meta["LastUpdatedTime"])
        if cid not in touched or moment > touched[cid]:
            touched[cid] = moment

    for rec in invoices:
        cid = rec["CustomerRef"]["value"]
        balance[cid] += Decimal(str(rec["Balance"]))
        touch(cid, rec["MetaData"])
    for rec in credit_memos:
        cid = rec["CustomerRef"]["value"]
        balance[cid] -= Decimal(str(rec["RemainingCredit"]))
        touch(cid, rec["MetaData"])
    out = []
    for c in world.clients:
        if c.qbo_id is None or c.qbo_created is None or c.qbo_created > now:
            continue
        inactive_at = local_dt(c.churn_end + timedelta(days=45), 9) if c.churn_end else None
        active = inactive_at is None or inactive_at > now
        updated = c.qbo_created
        if not active:
            updated = max(updated, inactive_at)
        job_balance = balance.get(c.qbo_job_id, Decimal("0")) if c.qbo_job_id else Decimal("0")
        base = {"SyncToken": "0", "domain": "QBO", "sparse": False, "Active": active,
                "Taxable": False, "CurrencyRef": USD, "PreferredDeliveryMethod": "Email",
                "SalesTermRef": {"value": "3"},
                "PrimaryEmailAddr": {"Address": f"ap@{c.names.identifier.lower()}.example"}}  # fmt: skip
        parent_updated = qbo_ts(max(updated, touched.get(c.qbo_id, updated)))
        out.append({"Id": c.qbo_id, "DisplayName": c.names.qbo, "CompanyName": c.names.qbo,
                    "FullyQualifiedName": c.names.qbo, "PrintOnCheckName": c.names.qbo,
                    "Job": False, "BillWithParent": False, "Level": 0,
                    "Balance": _money(balance.get(c.qbo_id, Decimal("0"))),
                    "BalanceWithJobs": _money(balance.get(c.qbo_id, Decimal("0")) + job_balance),
                    **base, "MetaData": {"CreateTime": qbo_ts(c.qbo_created),
                                         "LastUpdatedTime": parent_updated}})  # fmt: skip
        if c.qbo_job_id:
            out.append({"Id": c.qbo_job_id, "DisplayName": JOB_NAME, "CompanyName": c.names.qbo,
                        "FullyQualifiedName": f"{c.names.qbo}:{JOB_NAME}",
                        "PrintOnCheckName": c.names.qbo, "Job": True, "BillWithParent": True,
                        "Level": 1, "ParentRef": {"value": c.qbo_id},
                        "Balance": _money(job_balance), "BalanceWithJobs": _money(job_balance),
                        **base, "MetaData": {"CreateTime": qbo_ts(c.qbo_created),
                                             "LastUpdatedTime": qbo_ts(max(
                                                 updated, touched.get(c.qbo_job_id, updated)))}})  # fmt: skip
    return sorted(out, key=lambda r: int(r["Id"]))
