"""The deterministic synthetic MSP: one object holding every source's records.

`generate(preset, seed, today)` builds an MSP (Enersystems, LLC and its
clients) whose ConnectWise, QuickBooks Online and NinjaOne/ThreatLocker data
look exactly like the real APIs return them (see /work/shared/SOURCES.md), so
the sandbox HTTP servers can serve them verbatim and the ground truth
(`sandbox.ground_truth`) can recompute every METRICS.md input in plain Python.

How it works (the "world plan" model): the generator plans every record's
whole life up front - when a ticket is entered, its time entries, when it is
closed (or reopened, edited, deleted), when an invoice is paid, when a
back-dated journal entry is keyed in. The record lists are then *rendered*
as of the sandbox clock `now`: anything planned after `now` is invisible,
anything planned before is applied. `advance(days)` plans the new days and
re-renders, which is how older records get closed, edited and deleted without
any hidden mutable state. Ids are assigned in the order records become
visible, so they stay stable across `advance` calls.

Determinism: every random choice comes from `random.Random` instances seeded
from `(seed, purpose)` strings; nothing reads the wall clock except
`generate(today=None)` choosing today's date. Same seed + same `today` gives
byte-identical data (`MSP.fingerprint()`).

Conventions the warehouse must follow (documented here because the ground
truth relies on them):
- ConnectWise timestamps are UTC (`...Z`); months are bucketed after
  converting to America/Chicago.
- ConnectWise agreement `startDate`/`endDate`/`dateCancelled` are *calendar
  dates* sent as midnight UTC (`2025-03-01T00:00:00Z`): take the date part,
  never shift them into the reporting time zone.
- An agreement is active on day D when startDate <= D and (endDate is null or
  endDate >= D) and (dateCancelled is null or dateCancelled > D). Cancelled
  agreements have endDate = last billed day and dateCancelled = the day after,
  so the endDate and dateCancelled readings agree. `agreementStatus` is the
  *current* status and must not be used for history.
- Agreement growth and shrinkage are modelled as a replacement agreement:
  the old one ends on the last day of month M (agreementStatus Expired), the
  new one (new id, new billAmount) starts on the 1st of M+1. A source API only
  ever shows the current billAmount, so this is the only way the history can
  be reproduced from records. Consequence: replacement agreements count in
  `new_agreements` (managed agreements whose startDate is in the month).
- QuickBooks TxnDate is a local calendar date; MetaData times carry
  America/Los_Angeles offsets (like the real service).
- Only agreements whose billingCycle is "Monthly" carry MRR; the one client
  on an "Annual" Managed Services agreement counts as an agreement, its
  revenue is ORR (account "Annual Recurring Services Income").
- NinjaOne devices include a few VMWARE_VM_GUEST rows in the snapshots too
  (the real collector skips them) so "VM guests never count" is exercised.
- The MSP's own ConnectWise company has Help Desk tickets; they count in the
  MSP-wide reactive ticket metrics and are excluded from per-client ones.

What the data contains (all presets): a Help Desk board with parent and child
tickets, statuses New / In Progress / Waiting on Client / >Closed / >Closed -
No response / Closed, reopened tickets (closedDate kept, status open),
duplicates deleted within a day, tickets closed months after entry, and on
every month's last day a ticket entered at 21:00 local (next month in UTC);
Projects (ProjectTicket), Alerts and Sales boards; time entries on service
tickets, project tickets and charge codes (some keyed in the next day);
Managed Services / Managed Security / Block Time / Project agreements that
start, are replaced (growth, shrink) and are cancelled; invoices with
SalesItemLineDetail, SubTotalLineDetail, DiscountLineDetail and
DescriptionOnly lines, payments (some late, some never), credit memos, a job
sub-customer, a deleted duplicate invoice; daily device snapshots with
workstations, Macs, servers, VM hosts and guests, spares by name and by
location, the internal organization, one day with no snapshots and
ThreatLocker rows for ~90% of Windows/Mac devices from the third month.
`MSP.events` says where the planted events are: ticket_spike,
security_upsell, onboarding_wave, new_client, churn, shrink, backdated_entry
(applied by the first `advance`), missing_snapshot_day, threatlocker_start,
deleted_invoice, boundary_tickets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

TIMEZONE = "America/Chicago"

#: ConnectWise resource (its raw table) -> the MSP record list the sandbox serves for it
CONNECTWISE_LISTS = {
    "tickets": "cw_tickets",
    "time_entries": "cw_time_entries",
    "companies": "cw_companies",
    "boards": "cw_boards",
    "agreements": "cw_agreements",
    "members": "cw_members",
}

# ---------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """Size of a synthetic MSP. Numbers are targets; the generator lands near them."""

    name: str
    clients: int  # regular client companies (besides internal, prospect, vendor)
    endpoints: int  # devices in NinjaOne at the end of history (all kinds)
    months: int  # months of history, ending with the current month
    technicians: int  # ConnectWise members doing ticket work
    reactive_rate: float  # Help Desk tickets per device per month
    project_rate: float  # project tickets per client per month


PRESETS: dict[str, Preset] = {
    "small": Preset("small", clients=8, endpoints=150, months=15, technicians=2,
                    reactive_rate=0.6, project_rate=0.25),
    "demo": Preset("demo", clients=40, endpoints=600, months=26, technicians=8,
                   reactive_rate=0.72, project_rate=0.2),
    "large": Preset("large", clients=400, endpoints=10_000, months=36, technicians=60,
                    reactive_rate=0.25, project_rate=0.1),
}  # fmt: skip

# ---------------------------------------------------------------------------
# Fixed names other code (dbt seeds, tests) hard-codes
# ---------------------------------------------------------------------------

INTERNAL_COMPANY = "Enersystems, LLC"
INTERNAL_IDENTIFIER = "Enersystems"
INTERNAL_NINJA_ORG = "Enersystems - Internal"
MAPPED_COMPANY = "Blue Ridge Veterinary Clinic"
MAPPED_IDENTIFIER = "BlueRidgeVet"
MAPPED_QBO_CUSTOMER = "BRVC Animal Hospital"
MAPPED_NINJA_ORG = "BRV-Clinic"
PROSPECT_COMPANY = "Summit Prospect Partners"
VENDOR_COMPANY = "Pax8"

BOARDS = ("Help Desk", "Projects", "Alerts", "Sales")
MANAGED_AGREEMENT_TYPES = ("Managed Services", "Managed Security")
OTHER_AGREEMENT_TYPES = ("Block Time", "Project")

# ---------------------------------------------------------------------------
# Chart of accounts (QuickBooks). `category` is the correct METRICS.md category.
# ---------------------------------------------------------------------------
#
# Deliberate traps for the account -> category mapping:
# - "Officer Payroll" (FullyQualifiedName "Payroll Expenses:Officer Payroll")
#   matches a naive `%Payroll%` (employee_expense), `%Officer%` (owner_comp)
#   and a catch-all `%Expense%` (other_expenses). It is owner_comp: officer
#   (owner) salary run through payroll. It must be counted exactly once.
# - "Subcontracted Labor" is a Cost of Goods Sold account but not product COGS:
#   it is other_expenses.
# - "Discounts Given" is an Income account carrying negative amounts; the
#   sandbox only discounts hardware invoices, so it is product_sales.
# - "Ask My Accountant" maps to nothing (category None): an unmapped account
#   the warehouse must report, and which is excluded from total_expenses.
# - Parent accounts ("Managed Services Income", "Payroll Expenses") have
#   sub-accounts; nothing is posted to the parents themselves.


def _acct(
    id_: str,
    name: str,
    account_type: str,
    sub_type: str,
    category: str | None,
    parent_id: str | None = None,
    parent_name: str | None = None,
) -> dict[str, Any]:
    section = {
        "Income": "Income",
        "Cost of Goods Sold": "COGS",
        "Expense": "Expenses",
        "Other Income": "OtherIncome",
        "Other Expense": "OtherExpenses",
    }[account_type]
    return {
        "id": id_,
        "name": name,
        "fully_qualified_name": f"{parent_name}:{name}" if parent_name else name,
        "account_type": account_type,
        "account_sub_type": sub_type,
        "section": section,
        "category": category,
        "parent_id": parent_id,
    }


CHART_OF_ACCOUNTS: list[dict[str, Any]] = [
    # Income
    _acct("40", "Managed Services Income", "Income", "ServiceFeeIncome", "mrr"),
    _acct("41", "Managed Security Income", "Income", "ServiceFeeIncome", "mrr",
          "40", "Managed Services Income"),
    _acct("42", "Professional Services Income", "Income", "ServiceFeeIncome", "nrr"),
    _acct("43", "Project Income", "Income", "ServiceFeeIncome", "nrr"),
    _acct("44", "Annual Recurring Services Income", "Income", "ServiceFeeIncome", "orr"),
    _acct("45", "Annual License Renewals", "Income", "SalesOfProductIncome", "orr"),
    _acct("46", "Hardware Sales", "Income", "SalesOfProductIncome", "product_sales"),
    _acct("47", "Discounts Given", "Income", "DiscountsRefundsGiven", "product_sales"),
    _acct("48", "Late Fee Income", "Income", "OtherPrimaryIncome", "misc_revenue"),
    # Cost of goods sold
    _acct("50", "Cost of Goods Sold - Hardware", "Cost of Goods Sold",
          "SuppliesMaterialsCogs", "product_cogs"),
    _acct("51", "Cost of Goods Sold - Licenses", "Cost of Goods Sold",
          "SuppliesMaterialsCogs", "product_cogs"),
    _acct("52", "Subcontracted Labor", "Cost of Goods Sold", "CostOfLaborCos", "other_expenses"),
    # Expenses
    _acct("60", "Payroll Expenses", "Expense", "PayrollExpenses", "employee_expense"),
    _acct("61", "Wages - Technical Staff", "Expense", "PayrollExpenses", "employee_expense",
          "60", "Payroll Expenses"),
    _acct("62", "Wages - Administrative Staff", "Expense", "PayrollExpenses",
          "employee_expense", "60", "Payroll Expenses"),
    _acct("63", "Payroll Taxes", "Expense", "PayrollExpenses", "employee_expense",
          "60", "Payroll Expenses"),
    _acct("64", "Officer Payroll", "Expense", "PayrollExpenses", "owner_comp",
          "60", "Payroll Expenses"),
    _acct("65", "Employee Benefits", "Expense", "PayrollExpenses", "employee_expense"),
    _acct("66", "Owner Estimated Tax Distributions", "Expense", "OtherMiscellaneousServiceCost",
          "owner_comp_taxes"),
    _acct("70", "Rent Expense", "Expense", "RentOrLeaseOfBuildings", "other_expenses"),
    _acct("71", "Utilities", "Expense", "Utilities", "other_expenses"),
    _acct("72", "Software & Subscriptions", "Expense", "OtherMiscellaneousServiceCost",
          "other_expenses"),
    _acct("73", "Insurance", "Expense", "Insurance", "other_expenses"),
    _acct("74", "Professional Fees", "Expense", "LegalProfessionalFees", "other_expenses"),
    _acct("75", "Advertising & Marketing", "Expense", "AdvertisingPromotional",
          "other_expenses"),
    _acct("76", "Travel", "Expense", "Travel", "other_expenses"),
    _acct("77", "Office Supplies", "Expense", "OfficeGeneralAdministrativeExpenses",
          "other_expenses"),
    _acct("78", "Bank Service Charges", "Expense", "BankCharges", "other_expenses"),
    _acct("79", "Vehicle Expenses", "Expense", "Auto", "other_expenses"),
    _acct("80", "Training and Certifications", "Expense", "OtherMiscellaneousServiceCost",
          "other_expenses"),
    _acct("89", "Ask My Accountant", "Expense", "OtherMiscellaneousServiceCost", None),
    # Other income / other expense
    _acct("90", "Interest Income", "Other Income", "InterestEarned", "misc_revenue"),
    _acct("95", "Interest Expense", "Other Expense", "OtherMiscellaneousExpense",
          "other_expenses"),
    _acct("96", "Depreciation", "Other Expense", "Depreciation", "other_expenses"),
]  # fmt: skip

ACCOUNTS_BY_ID: dict[str, dict[str, Any]] = {a["id"]: a for a in CHART_OF_ACCOUNTS}

REVENUE_CATEGORIES = ("nrr", "mrr", "orr", "product_sales", "misc_revenue")
EXPENSE_CATEGORIES = (
    "employee_expense",
    "owner_comp_taxes",
    "owner_comp",
    "product_cogs",
    "other_expenses",
)

# ---------------------------------------------------------------------------
# Ground-truth configuration (mirrors the dbt seeds' defaults)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The analyst-editable rules METRICS.md names, with their default values.

    Readable as attributes (`config.reactive_boards`) or keys
    (`config["reactive_boards"]`). `internal_organizations` holds the MSP's own
    names in every system (ConnectWise company and NinjaOne organization).
    Only agreements whose billingCycle is `mrr_billing_cycle` count as MRR.
    """

    reactive_boards: list[str] = field(default_factory=lambda: ["Help Desk"])
    closed_statuses: list[str] = field(
        default_factory=lambda: [">Closed", ">Closed - No response", "Closed"]
    )
    managed_agreement_types: list[str] = field(
        default_factory=lambda: list(MANAGED_AGREEMENT_TYPES)
    )
    seat_excluded_node_classes: list[str] = field(
        default_factory=lambda: ["WINDOWS_SERVER", "VMWARE_VM_HOST", "VMWARE_VM_GUEST"]
    )
    vm_guest_node_classes: list[str] = field(default_factory=lambda: ["VMWARE_VM_GUEST"])
    internal_organizations: list[str] = field(
        default_factory=lambda: [INTERNAL_COMPANY, INTERNAL_NINJA_ORG]
    )
    spare_pattern: str = "spare"
    mrr_billing_cycle: str = "Monthly"
    #: internal companies' tickets and hours count as reactive work (the MSP's sheet does)
    count_internal_reactive_work: bool = True
    timezone: str = TIMEZONE

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


DEFAULT_CONFIG = Config()

# ---------------------------------------------------------------------------
# The MSP
# ---------------------------------------------------------------------------

RECORD_LISTS = (
    "cw_companies",
    "cw_boards",
    "cw_members",
    "cw_tickets",
    "cw_time_entries",
    "cw_agreements",
    "qbo_accounts",
    "qbo_customers",
    "qbo_items",
    "qbo_invoices",
    "qbo_payments",
    "qbo_credit_memos",
    "ninja_organizations",
    "ninja_locations",
    "ninja_devices",
)
#: what rendering sets besides the clock (MSP.__getattr__ renders them on first read)
RENDERED = (*RECORD_LISTS, "deleted", "deleted_at", "events", "clients")


class MSP:
    """All source records of one synthetic MSP as of its clock `now`.

    Record lists are replaced (not mutated) by `advance`; read them afresh
    after each call. Records are read-only: copy before changing one.

    Attributes: preset, seed, timezone, start_month, end_month (first of the
    current month), now (aware UTC), the record lists in RECORD_LISTS,
    deleted / deleted_at (records gone from the source), events (where the
    planted anomalies are), clients (cross-system identity of each client).
    """

    preset: str
    seed: int
    timezone: str
    start_month: date
    end_month: date
    now: datetime

    cw_companies: list[dict]
    cw_boards: list[dict]
    cw_members: list[dict]
    cw_tickets: list[dict]
    cw_time_entries: list[dict]
    cw_agreements: list[dict]
    qbo_accounts: list[dict]
    qbo_customers: list[dict]
    qbo_items: list[dict]
    qbo_invoices: list[dict]
    qbo_payments: list[dict]
    qbo_credit_memos: list[dict]
    ninja_organizations: list[dict]
    ninja_locations: list[dict]
    ninja_devices: list[dict]

    deleted: dict[str, set]
    deleted_at: dict[str, dict[Any, datetime]]
    events: dict[str, Any]
    clients: list[dict]

    #: False until the record lists are rendered for the current clock
    rendered = True

    def __init__(self, world: Any) -> None:
        from sandbox.generator.render import assign_ids, set_clock

        self._world = world
        self._render_lock = threading.RLock()
        self.preset = world.preset_name
        self.seed = world.seed
        self.timezone = TIMEZONE
        self.start_month = world.start_month
        assign_ids(world)
        set_clock(self, world)
        self.rendered = False

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set yet: the rendered ones are made on
        # first read (a process that only writes inventory never renders them).
        if name in RENDERED and self.__dict__.get("_world") is not None:
            self.render()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def render(self, keep: Any = None) -> None:
        """Render the record lists as of `now` (once; `keep` = a render.Changes)."""
        from sandbox.generator.render import render_into

        with self._render_lock:
            if self.rendered and keep is None:
                return
            if keep is None:
                render_into(self, self._world)
            else:
                render_into(self, self._world, keep)
            self.rendered = True

    def forget_rendering(self) -> None:
        """Drop the rendered lists; they are rendered again when next read."""
        with self._render_lock:
            for name in RENDERED:
                self.__dict__.pop(name, None)
            self.rendered = False

    # -- construction ------------------------------------------------------

    @classmethod
    def from_records(
        cls,
        *,
        now: datetime,
        start_month: date,
        snapshots: list[dict] | None = None,
        pnl: dict[tuple[str, date], Decimal] | None = None,
        clients: list[dict] | None = None,
        **lists: list[dict],
    ) -> MSP:
        """An MSP from explicit record lists, for hand-computed tests.

        `lists` are record lists by attribute name (cw_tickets=[...], ...);
        `snapshots` are device-snapshot dicts (as `iter_device_snapshots`
        yields, with a `vendor` key); `pnl` is the profit_and_loss mapping;
        `clients` the optional cross-system identity list (see `MSP.clients`).
        """
        from sandbox.generator.handmade import HandmadeMSP

        return HandmadeMSP(now=now, start_month=start_month, snapshots=snapshots or [],
                           pnl=pnl or {}, lists=lists, clients=clients)  # fmt: skip

    # -- QuickBooks P&L ----------------------------------------------------

    def profit_and_loss(self, start: date, end: date) -> dict[tuple[str, date], Decimal]:
        """(account Id, first-of-month) -> amount for months in [start, end].

        The books as of `now`: back-dated entries keyed in before `now` are
        included in the (old) month they are dated in. Only non-zero cells.
        """
        from sandbox.generator.quickbooks import profit_and_loss

        return profit_and_loss(self._world, self.now, start, end)

    # -- device inventory --------------------------------------------------

    def snapshot_dates(self, vendor: str = "NinjaRMM") -> list[date]:
        """The days that have snapshots for `vendor`, ascending."""
        from sandbox.generator.devices import snapshot_dates

        return snapshot_dates(self._world, self.today, vendor)

    def iter_device_snapshots(
        self, vendor: str = "NinjaRMM", start: date | None = None, end: date | None = None
    ) -> Iterator[dict]:
        """One dict per device per day (lazy), ordered by day then device key.

        `start`/`end` (inclusive) restrict the days; default all of history.
        """
        from sandbox.generator.devices import iter_snapshots

        return iter_snapshots(self._world, self.today, vendor, start, end)

    # -- clock ---------------------------------------------------------------

    @property
    def today(self) -> date:
        """The sandbox clock's local (America/Chicago) date."""
        from sandbox.generator.timeutil import local_date

        return local_date(self.now)

    def advance(self, days: int, *, count_changes: bool = True) -> dict[str, Any]:
        """Move the clock `days` forward; returns {"created", "updated", "deleted"}
        (None each with `count_changes=False`, which renders nothing now: for a
        process that only writes the new days' inventory)."""
        from sandbox.generator.render import advance

        with self._render_lock:
            return advance(self, self._world, days, count_changes=count_changes)

    # -- determinism -------------------------------------------------------

    def fingerprint(self, include_snapshots: bool = True) -> str:
        """sha256 over a canonical JSON dump of every record (and snapshot)."""
        h = hashlib.sha256()

        def feed(obj: Any) -> None:
            h.update(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode())
            h.update(b"\n")

        feed({"now": self.now.isoformat(), "start": self.start_month.isoformat()})
        for name in RECORD_LISTS:
            feed(name)
            for rec in getattr(self, name):
                feed(rec)
        feed({k: sorted(v, key=str) for k, v in sorted(self.deleted.items())})
        feed(self.events)
        pnl = self.profit_and_loss(self.start_month, self.end_month)
        feed(sorted((k[0], k[1].isoformat(), str(v)) for k, v in pnl.items()))
        if include_snapshots:  # repr of the values: same content, a fraction of the cost
            for vendor in ("NinjaRMM", "ThreatLocker"):
                feed(vendor)
                for row in self.iter_device_snapshots(vendor):
                    h.update(repr(tuple(row.values())).encode())
        return h.hexdigest()


class DeviceInventory:
    """Only the device inventory of a synthetic MSP: what its NinjaOne/ThreatLocker
    collectors would write (`snapshot_dates`, `iter_device_snapshots`), and the
    clock (`now`, `today`, `advance`), with none of its tickets, agreements or books.

    Its snapshots are exactly those of `generate(preset, seed, today)` at the same
    clock (devices are planned before, and independently of, everything else), for
    a small part of the memory and time: the way to write a day of inventory.
    """

    def __init__(self, world: Any) -> None:
        self._world = world
        self.preset = world.preset_name
        self.seed = world.seed
        self.timezone = TIMEZONE
        self.start_month = world.start_month

    @property
    def now(self) -> datetime:
        return self._world.now

    @property
    def today(self) -> date:
        """The clock's local (America/Chicago) date."""
        from sandbox.generator.timeutil import local_date

        return local_date(self._world.now)

    def advance(self, days: int) -> None:
        """Move the clock `days` forward (devices are planned well past today)."""
        from datetime import timedelta

        if days < 0:
            raise ValueError("the clock only moves forward")
        self._world.now += timedelta(days=days)
        self._world.today = self.today

    snapshot_dates = MSP.snapshot_dates
    iter_device_snapshots = MSP.iter_device_snapshots


def _today(today: date | None) -> date:
    if today is not None:
        return today
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(TIMEZONE)).date()


def _preset(preset: str) -> Preset:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[preset]


def generate(preset: str = "small", seed: int = 42, today: date | None = None) -> MSP:
    """Build the synthetic MSP; history ends at `today` (default: today in Chicago)."""
    from sandbox.generator.world import build_world

    return MSP(build_world(_preset(preset), seed, _today(today)))


def generate_inventory(
    preset: str = "small", seed: int = 42, today: date | None = None
) -> DeviceInventory:
    """The device inventory of `generate(preset, seed, today)` alone (see DeviceInventory);
    advance it as the sandbox's clock moved to write the new days."""
    from sandbox.generator.world import build_world

    return DeviceInventory(build_world(_preset(preset), seed, _today(today), devices_only=True))
