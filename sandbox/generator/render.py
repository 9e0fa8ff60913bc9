"""Turn the world plan into API records as of the clock, and move the clock.

Ids are handed out in the order records become visible (by their creation
instant, then plan order), the way the real systems number them; a record
keeps its id for life, so re-rendering after `advance` never renumbers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.generator import connectwise as cw
from sandbox.generator import devices as ninja
from sandbox.generator import quickbooks as qbo
from sandbox.generator.timeutil import local_date, month_start, period_key
from sandbox.generator.world import World, plan_days

if TYPE_CHECKING:
    from sandbox.msp import MSP


def _gone(delete_at: datetime | None, now: datetime) -> bool:
    return delete_at is not None and delete_at <= now


def _assign(world: World, counter: str, plans: list, when: str, attr: str = "id",
            fmt: type = int) -> None:  # fmt: skip
    now = world.now
    fresh = [p for p in plans if getattr(p, attr) is None and getattr(p, when) is not None
             and getattr(p, when) <= now]  # fmt: skip
    fresh.sort(key=lambda p: (getattr(p, when), p.seq))
    n = world.next_ids[counter]
    for p in fresh:
        setattr(p, attr, fmt(n))
        n += 1
    world.next_ids[counter] = n


def assign_ids(world: World) -> None:
    _assign(world, "ticket", world.tickets, "entered")
    _assign(world, "entry", world.entries, "entered_at")
    _assign(world, "agreement", world.agreements, "entered_at")
    _assign(world, "invoice", world.invoices, "created_at", fmt=str)
    _assign(world, "credit_memo", world.credit_memos, "created_at", fmt=str)
    paid = [i for i in world.invoices if not _gone(i.delete_at, world.now)]
    _assign(world, "payment", paid, "paid_at", attr="payment_id", fmt=str)
    docs = [p for p in [*world.invoices, *world.credit_memos]
            if p.doc_number is None and p.id is not None]  # fmt: skip
    docs.sort(key=lambda p: (p.created_at, p.seq))
    for p in docs:
        p.doc_number = str(world.next_ids["doc"])
        world.next_ids["doc"] += 1


class Changes:
    """Counts created / updated / deleted records of one re-render against the
    previous one, releasing each previous record as soon as it is compared, so an
    advance never holds two copies of the record lists (flat memory)."""

    def __init__(self, previous: dict[str, list[dict]]) -> None:
        self._previous = previous
        self.counts = {"created": 0, "updated": 0, "deleted": 0}

    def __call__(self, name: str, records: Iterable[dict]) -> list[dict]:
        old = _keyed(self._previous.pop(name, None) or [])
        out: list[dict] = []
        seen: set[Any] = set()
        for record in records:
            out.append(record)
            key = _key(record)
            if key in seen:
                continue
            seen.add(key)
            before = old.pop(key, _ABSENT)
            if before is _ABSENT:
                self.counts["created"] += 1
            elif before != record:
                self.counts["updated"] += 1
        self.counts["deleted"] += len(old)
        return out

    def finish(self) -> dict[str, int]:
        for records in self._previous.values():  # lists this render did not produce
            self.counts["deleted"] += len(_keyed(records))
        self._previous.clear()
        return self.counts


_ABSENT = object()


def _key(record: dict) -> Any:
    return record.get("id", record.get("Id"))


def _keyed(records: list[dict]) -> dict[Any, dict]:
    return {_key(r): r for r in records}


def _kept(name: str, records: Iterable[dict]) -> list[dict]:
    return list(records)


def _alive(world: World, plans: list, name: str, deleted: dict[str, set],
           deleted_at: dict[str, dict[Any, datetime]]) -> Iterator[Any]:  # fmt: skip
    """The plans that have an id and are not deleted as of now; the deleted ones
    are noted in `deleted` / `deleted_at` under `name`."""
    now = world.now
    for plan in plans:
        if plan.id is None:
            continue
        if _gone(plan.delete_at, now):
            deleted[name].add(plan.id)
            deleted_at[name][plan.id] = plan.delete_at
        else:
            yield plan


def render_into(msp: MSP, world: World, keep: Callable[[str, Iterable[dict]], list[dict]] = _kept
                ) -> None:  # fmt: skip
    """(Re)build every record list of `msp` as of `world.now` (ids must be assigned).
    Each list passes through `keep(name, records)` (a `Changes` counts them)."""
    now = world.now
    today = local_date(now)
    set_clock(msp, world)
    deleted: dict[str, set] = {"cw_tickets": set(), "cw_time_entries": set(),
                               "qbo_invoices": set(), "ninja_devices": set()}  # fmt: skip
    deleted_at: dict[str, dict[Any, datetime]] = {k: {} for k in deleted}

    def by_id(name: str, records: Iterable[dict], key: Callable[[dict], Any]) -> list[dict]:
        return sorted(keep(name, records), key=key)

    def alive(plans: list, name: str) -> Iterator[Any]:
        return _alive(world, plans, name, deleted, deleted_at)

    def cw_id(r: dict) -> Any:
        return r["id"]

    def qbo_id(r: dict) -> Any:
        return int(r["Id"])

    msp.cw_tickets = by_id("cw_tickets", (cw.render_ticket(world, t, now)
                                          for t in alive(world.tickets, "cw_tickets")), cw_id)  # fmt: skip
    msp.cw_time_entries = by_id("cw_time_entries", (
        cw.render_entry(world, e) for e in alive(world.entries, "cw_time_entries")), cw_id)  # fmt: skip
    msp.cw_agreements = by_id("cw_agreements", (cw.render_agreement(world, a, now)
                                                for a in world.agreements if a.id is not None),
                              cw_id)  # fmt: skip
    msp.cw_companies = keep("cw_companies", cw.render_companies(world, now))
    msp.cw_boards = keep("cw_boards", cw.render_boards(world))
    msp.cw_members = keep("cw_members", cw.render_members(world, now))

    invoices = list(alive(world.invoices, "qbo_invoices"))
    msp.qbo_invoices = by_id("qbo_invoices",
                             (qbo.render_invoice(world, inv, now) for inv in invoices), qbo_id)  # fmt: skip
    msp.qbo_payments = by_id("qbo_payments", (qbo.render_payment(world, inv) for inv in invoices
                                              if inv.payment_id is not None), qbo_id)  # fmt: skip
    msp.qbo_credit_memos = by_id("qbo_credit_memos", (
        qbo.render_credit_memo(world, cm) for cm in world.credit_memos if cm.id is not None),
        qbo_id)  # fmt: skip
    msp.qbo_customers = keep("qbo_customers", qbo.render_customers(
        world, now, msp.qbo_invoices, msp.qbo_credit_memos))  # fmt: skip
    msp.qbo_accounts = keep("qbo_accounts", qbo.render_accounts(world))
    msp.qbo_items = keep("qbo_items", qbo.render_items(world))

    orgs, locations, devices = ninja.render_ninja(world, now)
    msp.ninja_organizations = keep("ninja_organizations", orgs)
    msp.ninja_locations = keep("ninja_locations", locations)
    msp.ninja_devices = keep("ninja_devices", devices)
    for dev_id, at in ninja.removed_devices(world, today).items():
        deleted["ninja_devices"].add(dev_id)
        deleted_at["ninja_devices"][dev_id] = at
    msp.deleted = deleted
    msp.deleted_at = deleted_at
    msp.events = _events(world)
    msp.clients = _clients(world)


def set_clock(msp: MSP, world: World) -> None:
    msp.now = world.now
    msp.end_month = month_start(local_date(world.now))


def _events(world: World) -> dict[str, Any]:
    """The planted anomalies, with periods as 'YYYY-MM' and ids where visible."""
    ev = copy.deepcopy(world.events)
    for value in ev.values():
        for key in ("month", "last_month", "lost_month"):
            if isinstance(value.get(key), date):
                value[key.replace("month", "period")] = period_key(value[key])
    ev["ticket_spike"]["reactive_board"] = "Help Desk"
    inv = world.cache.get("backdated_invoice")
    ev["backdated_entry"]["invoice_id"] = inv.id if inv else None
    ev["backdated_entry"]["applied"] = ev["backdated_entry"]["keyed_at"] <= world.now
    dup = world.cache.get("duplicate_invoice")
    ev["deleted_invoice"] = {"invoice_id": dup.id if dup else None,
                             "period": period_key(dup.txn_date) if dup else None}  # fmt: skip
    ev["boundary_tickets"] = [t.id for t in world.cache.get("boundary_tickets", [])
                              if t.id is not None and not _gone(t.delete_at, world.now)]  # fmt: skip
    return ev


def _clients(world: World) -> list[dict]:
    """Cross-system identity of every company (the truth the name matching should find)."""
    out = []
    for c in sorted(world.clients, key=lambda c: c.cw_id):
        out.append({"cw_company_id": c.cw_id, "cw_name": c.names.cw,
                    "identifier": c.names.identifier, "kind": c.kind, "billing": c.billing,
                    "qbo_customer_id": c.qbo_id, "qbo_name": c.names.qbo or None,
                    "qbo_job_id": c.qbo_job_id, "ninja_org_id": c.ninja_org_id,
                    "ninja_name": c.names.ninja or None, "roles": list(c.roles)})  # fmt: skip
    return out


# -- the clock ------------------------------------------------------------------------


def advance(msp: MSP, world: World, days: int, *, count_changes: bool = True) -> dict[str, int]:
    """Plan the new days, apply updates/deletions due in the window, re-render.

    The previous record lists are handed to the re-render, which drops each old
    record once compared: memory stays flat however often the clock moves. With
    `count_changes=False` nothing is rendered now (the lists are rendered when
    next read) and the counts are None."""
    from sandbox.msp import RECORD_LISTS

    if days < 0:
        raise ValueError("the clock only moves forward")
    if days == 0:
        return {"created": 0, "updated": 0, "deleted": 0}
    if count_changes and not msp.rendered:
        msp.render()  # the state the counts compare against
    previous = {name: msp.__dict__.pop(name) for name in RECORD_LISTS if name in msp.__dict__}
    msp.forget_rendering()
    old_now, old_today = world.now, world.today
    world.now = old_now + timedelta(days=days)
    world.today = local_date(world.now)
    plan_days(world, old_today + timedelta(days=1), world.today)
    _plan_advance_actions(world, old_now, world.now)
    assign_ids(world)
    set_clock(msp, world)
    if not count_changes:
        previous.clear()
        return {"created": None, "updated": None, "deleted": None}
    changes = Changes(previous)
    del previous
    msp.render(changes)
    return changes.finish()


def _plan_advance_actions(world: World, old_now: datetime, new_now: datetime) -> None:
    """Edits and deletions of records the pipeline has already seen, inside the window."""
    rng = world.rng("advance", old_now.isoformat())
    window = (new_now - old_now).total_seconds()

    def moment() -> datetime:
        return old_now + timedelta(seconds=rng.uniform(60, window - 60))

    recent = old_now - timedelta(days=14)
    entries = [e for e in world.entries if e.id is not None and e.delete_at is None
               and e.ticket is not None and recent <= e.entered_at <= old_now]  # fmt: skip
    for e in rng.sample(entries, k=min(len(entries), max(1, round(window / 86400 / 3)))):
        e.delete_at = moment()
    lonely = [t for t in world.tickets if t.id is not None and t.delete_at is None
              and not t.entries and not t.children and t.parent is None
              and old_now - timedelta(days=60) <= t.entered <= old_now]  # fmt: skip
    if lonely:
        rng.choice(lonely).delete_at = moment()
    old_closed = [t for t in world.tickets if t.id is not None and t.delete_at is None
                  and t.close_at is not None and t.close_at <= old_now - timedelta(days=30)]  # fmt: skip
    for t in rng.sample(old_closed, k=min(len(old_closed), max(2, round(window / 86400)))):
        t.touches.append(moment())
