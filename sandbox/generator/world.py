"""The world plan: every record's whole life, decided up front.

A plan object (TicketPlan, InvoicePlan, ...) says when its record appears,
changes and disappears. `render.py` turns plans into API-shaped records as of
the clock. Plans are built in this order: members, clients, devices,
agreements, then day by day (tickets, time entries, invoices, payments,
journal postings), each step from its own `random.Random` seeded by
`(seed, purpose)`, so a change in one step never reshuffles another.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sandbox.generator.names import ClientNames
from sandbox.generator.timeutil import add_months, local_dt, month_end, month_start
from sandbox.msp import Preset


@dataclass(slots=True, eq=False)
class Member:
    id: int
    identifier: str
    first_name: str
    last_name: str
    title: str
    start: date
    inactive_from: date | None = None
    technician: bool = True

    def active_on(self, day: date) -> bool:
        return self.start <= day and (self.inactive_from is None or day < self.inactive_from)


@dataclass(slots=True, eq=False)
class Location:
    id: int
    org_id: int
    name: str
    spare: bool = False


@dataclass(slots=True, eq=False)
class Client:
    """A ConnectWise company and its twins in QuickBooks and NinjaOne."""

    key: int
    kind: str  # client | internal | prospect | vendor
    names: ClientNames
    cw_id: int
    since: date  # when the company was entered in ConnectWise
    billing: str = "none"  # managed | annual | block | none
    size: int = 0  # target device count
    onboard_month: date | None = None  # first month of service, inside history
    churn_end: date | None = None  # last day of service (a month end)
    seat_price: Decimal = Decimal("0")
    server_price: Decimal = Decimal("0")
    security: bool = False
    security_from: date | None = None
    slow_payer: bool = False
    license_renewal: bool = False
    ninja_org_id: int | None = None
    qbo_id: str | None = None
    qbo_job_id: str | None = None
    qbo_created: datetime | None = None
    locations: list[Location] = field(default_factory=list)
    contacts: list[tuple[int, str]] = field(default_factory=list)
    device_counts: dict[date, int] = field(default_factory=dict)  # month -> devices on the 15th
    roles: list[str] = field(default_factory=list)

    @property
    def service_start(self) -> date:
        return self.onboard_month or month_start(self.since)

    def in_service(self, day: date) -> bool:
        return self.service_start <= day and (self.churn_end is None or day <= self.churn_end)


@dataclass(slots=True, eq=False)
class Device:
    id: int
    client: Client
    location: Location
    node_class: str
    hostname: str
    display_name: str
    os_name: str
    added: date
    removed: date | None = None  # first day it is gone
    moved_on: date | None = None  # a spare deployed: location changes on this day
    moved_to: Location | None = None
    parent: Device | None = None  # VM guest -> host
    tl_key: str | None = None  # ThreatLocker computer id, None = not covered
    tl_lag: int = 0
    created_ts: float = 0.0
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    seq: int = 0


@dataclass(slots=True, eq=False, kw_only=True)
class Planned:
    """What every planned record has: its place in plan order, its client and, once
    it is visible at the clock, the id `render.assign_ids` hands out."""

    seq: int
    client: Client
    id: Any = None


@dataclass(slots=True, eq=False, kw_only=True)
class Deletable(Planned):
    """A planned record that may disappear from its source at `delete_at`."""

    delete_at: datetime | None = None


@dataclass(slots=True, eq=False)
class Agreement(Planned):
    type_name: str
    name: str
    start: date
    cycle: str  # Monthly | Annual | One Time
    amount: Decimal
    entered_at: datetime
    end: date | None = None
    cancelled: bool = False
    ended_at: datetime | None = None  # when the end/cancellation was keyed in
    seats: int = 0
    servers: int = 0
    seat_price: Decimal = Decimal("0")
    server_price: Decimal = Decimal("0")


@dataclass(slots=True, eq=False)
class Entry(Deletable):
    """A ConnectWise time entry (on a ticket or a charge code)."""

    member: Member
    start: datetime
    end: datetime
    entered_at: datetime
    hours: Decimal
    billable: str  # Billable | DoNotBill | NoCharge
    work_type: str
    notes: str
    ticket: TicketPlan | None = None
    charge_code: tuple[int, str] | None = None
    agreement: Agreement | None = None
    invoice_item: str | None = None  # QuickBooks item key when billed hourly


@dataclass(slots=True, eq=False)
class TicketPlan(Deletable):
    board: str
    entered: datetime
    summary: str
    record_type: str = "ServiceTicket"
    type_name: str | None = None
    subtype_name: str | None = None
    priority: str = "Priority 3 - Normal Response"
    source: str = "Email"
    owner: Member | None = None
    entered_by: str = "Portal"
    parent: TicketPlan | None = None
    children: list[TicketPlan] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    responded: datetime | None = None
    waiting_at: datetime | None = None
    close_at: datetime | None = None
    close_status: str = ">Closed"
    closed_by: Member | None = None
    reopen_at: datetime | None = None
    reclose_at: datetime | None = None
    touches: list[datetime] = field(default_factory=list)
    budget_hours: Decimal | None = None
    agreement: Agreement | None = None
    sla_met: bool = True


@dataclass(slots=True)
class Line:
    item: str  # item key (see quickbooks.ITEMS)
    description: str
    qty: Decimal
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return (self.qty * self.unit_price).quantize(Decimal("0.01"))


@dataclass(slots=True, eq=False, kw_only=True)
class QboDocument(Deletable):
    """A QuickBooks sales document (invoice, credit memo): dated, created, with lines
    and, once visible, a document number."""

    txn_date: date
    created_at: datetime
    lines: list[Line]
    doc_number: str | None = None


@dataclass(slots=True, eq=False, kw_only=True)
class InvoicePlan(QboDocument):
    customer_id: str  # QuickBooks customer Id billed (a job for some projects)
    memo: str | None = None
    discount_pct: Decimal | None = None
    paid_at: datetime | None = None
    edit_at: datetime | None = None
    edit_lines: list[Line] = field(default_factory=list)
    payment_id: str | None = None


@dataclass(slots=True, eq=False, kw_only=True)
class CreditMemoPlan(QboDocument):
    """A credit memo (never deleted in the synthetic books)."""


@dataclass(slots=True, frozen=True)
class Posting:
    """A journal line outside invoices (expenses, COGS, interest)."""

    day: date
    account_id: str
    amount: Decimal
    entered_at: datetime


@dataclass(eq=False)
class World:
    preset: Preset
    seed: int
    start_month: date
    today: date
    now: datetime
    planned_through: date | None = None
    members: list[Member] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    tickets: list[TicketPlan] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    invoices: list[InvoicePlan] = field(default_factory=list)
    credit_memos: list[CreditMemoPlan] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    events: dict[str, Any] = field(default_factory=dict)
    missing_day: date | None = None
    tl_start: date | None = None
    months: list[date] = field(default_factory=list)  # months of history at build
    next_ids: dict[str, int] = field(default_factory=dict)
    _seq: Any = field(default_factory=itertools.count)
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def preset_name(self) -> str:
        return self.preset.name

    def rng(self, *purpose: object) -> random.Random:
        return random.Random(":".join([str(self.seed), *map(str, purpose)]))

    def seq(self) -> int:
        return next(self._seq)

    def client_by_kind(self, kind: str) -> Client:
        return next(c for c in self.clients if c.kind == kind)

    def client_with_role(self, role: str) -> Client | None:
        return next((c for c in self.clients if role in c.roles), None)


def build_world(preset: Preset, seed: int, today: date, *, devices_only: bool = False) -> World:
    """Plan the whole MSP from `preset.months` months ago through `today`.

    `devices_only` stops after the devices: members, clients (with their NinjaOne
    organizations and locations) and devices are planned first, each from its own
    random stream, and nothing planned later changes them, so that world's devices
    (and device snapshots) are exactly the whole world's, for a fraction of its
    memory and time. Such a world has no tickets, agreements or books."""
    from sandbox.generator import clients, devices, quickbooks

    start = add_months(month_start(today), -(preset.months - 1))
    world = World(preset=preset, seed=seed, start_month=start, today=today,
                  now=local_dt(today, 18))  # fmt: skip
    world.months = [add_months(start, i) for i in range(preset.months)]
    world.next_ids = {"ticket": 100_001, "entry": 500_001, "agreement": 1, "invoice": 130,
                      "payment": 90_001, "credit_memo": 70_001, "doc": 1001}  # fmt: skip
    _place_events(world)
    clients.plan_members(world)
    clients.plan_clients(world)
    devices.plan_devices(world)
    if devices_only:
        return world
    clients.plan_agreements(world)
    quickbooks.plan_customers(world)
    plan_days(world, start, today)
    quickbooks.plan_backdated_entry(world)
    return world


def plan_days(world: World, first: date, last: date) -> None:
    """Plan tickets, time, billing and bookkeeping for each day in [first, last]."""
    from sandbox.generator import connectwise, quickbooks
    from sandbox.generator.timeutil import days

    for day in days(first, last):
        if day.day == 1:
            quickbooks.plan_month(world, day)
        connectwise.plan_day(world, day)
        quickbooks.plan_day(world, day)
    world.planned_through = last


def _place_events(world: World) -> None:
    """Where the planted anomalies go: months relative to the end of history."""
    m, n = world.months, len(world.months)

    def at(back: int) -> date:
        return m[max(1, n - back)]

    world.events = {
        "ticket_spike": {"month": at(11), "factor": 1.9},
        "security_upsell": {"month": at(12)},
        "onboarding_wave": {"month": at(10)},
        "new_client": {"month": at(8)},
        "churn": {"last_month": at(6), "lost_month": at(5)},
        "backdated_entry": {"month": at(4)},
        "shrink": {"month": at(4)},
        "missing_snapshot_day": {"day": month_end(at(3))},
        "threatlocker_start": {"day": m[min(2, n - 1)]},
    }
    world.missing_day = world.events["missing_snapshot_day"]["day"]
    world.tl_start = world.events["threatlocker_start"]["day"]
