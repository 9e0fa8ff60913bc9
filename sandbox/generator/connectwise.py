"""ConnectWise PSA: tickets and time entries planned day by day, and rendering.

Ticket volume follows the active device count of each client (Help Desk
tickets ~ preset.reactive_rate per device per month, more on weekdays, a
spike month). Every ticket's lifecycle is planned at once: time entries,
waiting, closing (three closed statuses), reopening, later edits, duplicates
deleted within a day, child tickets. On each month's last day one Help Desk
ticket is entered at 21:00 local (which is the next month in UTC) and its
time entry is keyed in near midnight, so month bucketing in the wrong zone
shows up.

Records are rendered exactly as the REST API returns them: camelCase,
references `{id, name, _info}`, `_info.dateEntered/lastUpdated`, UTC `Z`
timestamps, explicit nulls.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sandbox.generator.clients import active_on
from sandbox.generator.devices import devices_in_month
from sandbox.generator.timeutil import (
    cw_date,
    cw_ts,
    local_date,
    local_dt,
    month_end,
    month_start,
)
from sandbox.generator.world import Agreement, Client, Entry, Member, TicketPlan, World

BASE = "https://api-na.myconnectwise.net/v4_6_release/apis/3.0"

BOARDS = [  # id, name, projectFlag, statuses (id, name, closed)
    (1, "Help Desk", False, [(11, "New", False), (12, "In Progress", False),
                             (13, "Waiting on Client", False), (14, ">Closed", True),
                             (15, ">Closed - No response", True), (16, "Closed", True)]),
    (2, "Projects", True, [(21, "New", False), (22, "In Progress", False), (23, "Closed", True)]),
    (3, "Alerts", False, [(31, "New", False), (32, "In Progress", False), (33, "Closed", True)]),
    (4, "Sales", False, [(41, "New", False), (42, "In Progress", False),
                         (43, "Waiting on Client", False), (44, "Closed", True)]),
]  # fmt: skip
BOARD_IDS = {name: bid for bid, name, _, _ in BOARDS}
STATUS = {(name, sname): (sid, closed) for _, name, _, sts in BOARDS for sid, sname, closed in sts}
CHARGE_CODES = [(3, "Admin"), (4, "Training"), (5, "Internal Meeting")]
AGREEMENT_TYPES = {"Managed Services": 1, "Managed Security": 2, "Block Time": 3, "Project": 4}
BILLING_CYCLES = {"Monthly": 1, "Annual": 4, "One Time": 6}
PRIORITIES = {"Priority 1 - Emergency Response": 1, "Priority 2 - Quick Response": 2,
              "Priority 3 - Normal Response": 3, "Priority 4 - Schedule Maintenance": 4}  # fmt: skip
SOURCES = {"Email": 2, "Phone": 1, "Portal": 3, "Monitoring": 5}
WORK_TYPES = {"Remote Support": 1, "Onsite Support": 2, "Project Work": 3, "Internal": 4,
              "Alert Response": 5, "Sales": 6}  # fmt: skip

REACTIVE_SUMMARIES = [
    "Outlook keeps asking for password", "Printer offline in front office", "Cannot connect to VPN",
    "New user setup", "User locked out of account", "Slow computer", "Shared drive not mapping",
    "Teams audio not working", "Phishing email reported", "Scanner not sending to email",
    "Wi-Fi drops in conference room", "Software install request", "Monitor not detected",
    "Password reset", "QuickBooks will not open", "Email bounce-backs", "Laptop will not boot",
    "MFA phone replacement", "Line-of-business app error", "Disable departed employee",
]  # fmt: skip
PROJECT_SUMMARIES = [
    "Server migration", "Firewall replacement", "Microsoft 365 tenant migration",
    "Workstation refresh", "Backup appliance deployment", "Network switch upgrade",
    "New office build-out", "Wireless access point rollout",
]  # fmt: skip
ALERT_SUMMARIES = ["Disk space low on {h}", "Backup job failed on {h}", "{h} offline",
                   "CPU above 95% on {h}", "Windows update failures on {h}"]  # fmt: skip
SALES_SUMMARIES = ["Quote: replacement laptops", "Quote: firewall renewal",
                   "Network assessment", "Managed services proposal"]  # fmt: skip
ALERT_RATE = 0.08  # Alerts-board tickets per device per month
WEEKDAY_WEIGHT = [1.0, 1.0, 1.0, 1.0, 1.0, 0.25, 0.2]
WEEKDAY_NORM = 7 / sum(WEEKDAY_WEIGHT)
MINUTES = [10, 15, 20, 25, 30, 45, 60, 75, 90, 120]
MINUTE_WEIGHTS = [8, 14, 12, 6, 20, 14, 12, 5, 5, 4]


def hours(minutes: int) -> Decimal:
    """actualHours as ConnectWise stores them: two decimals."""
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def work_time(rng: random.Random, day: date) -> datetime:
    """A ticket's entered time: mostly business hours, some evenings and nights."""
    if day.weekday() < 5:
        r = rng.random()
        if r < 0.9:
            minutes = rng.randint(450, 1050)
        elif r < 0.97:
            minutes = rng.randint(1051, 1439)
        else:
            minutes = rng.randint(0, 449)
    else:
        minutes = rng.randint(480, 1320)
    return local_dt(day, minutes // 60, minutes % 60, rng.randint(0, 59))


# -- lookups ------------------------------------------------------------------------


def techs_on(world: World, day: date) -> list[Member]:
    key = ("techs", day)
    if key not in world.cache:
        world.cache[key] = [m for m in world.members if m.technician and m.active_on(day)]
    return world.cache[key]


def agreements_of(world: World, client: Client) -> list[Agreement]:
    index = world.cache.get("agreements_by_client")
    if index is None or world.cache.get("agreements_indexed") != len(world.agreements):
        index = {}
        for a in world.agreements:
            index.setdefault(a.client.key, []).append(a)
        world.cache["agreements_by_client"] = index
        world.cache["agreements_indexed"] = len(world.agreements)
    return index.get(client.key, [])


def coverage(world: World, client: Client, day: date) -> Agreement | None:
    """The agreement that covers reactive work for `client` on `day`, if any."""
    for a in agreements_of(world, client):
        if a.type_name in ("Managed Services", "Block Time") and active_on(a, day):
            return a
    return None


def _client_weights(world: World, month: date) -> tuple[list[Client], list[float], float]:
    key = ("weights", month)
    if key not in world.cache:
        chosen, cum, total = [], [], 0.0
        for c in world.clients:
            if c.kind in ("client", "internal"):
                n = devices_in_month(world, c, month)
                if n:
                    total += n
                    chosen.append(c)
                    cum.append(total)
        world.cache[key] = (chosen, cum, total)
    return world.cache[key]


# -- planning -------------------------------------------------------------------------


def plan_day(world: World, day: date) -> None:
    rng = world.rng("cw-day", day.isoformat())
    month = month_start(day)
    clients, cum, total = _client_weights(world, month)
    days_in_year = 365.25
    factor = WEEKDAY_WEIGHT[day.weekday()] * WEEKDAY_NORM
    spike = world.events["ticket_spike"]
    if month == spike["month"]:
        factor *= spike["factor"]
    lam = total * world.preset.reactive_rate * 12 / days_in_year * factor
    for _ in range(poisson(rng, lam)):
        client = rng.choices(clients, cum_weights=cum)[0]
        _reactive(world, rng, client, work_time(rng, day))
    if day == month_end(day):
        client = rng.choices(clients, cum_weights=cum)[0]
        _reactive(world, rng, client, local_dt(day, 21, 0, 0), boundary=True)

    for _ in range(poisson(rng, total * ALERT_RATE * 12 / days_in_year)):
        client = rng.choices(clients, cum_weights=cum)[0]
        minute = rng.randint(0, 1439)
        _alert(world, rng, client, local_dt(day, minute // 60, minute % 60, rng.randint(0, 59)))

    if day.weekday() < 5:
        n_clients = sum(1 for c in clients if c.kind == "client")
        lam_p = n_clients * world.preset.project_rate * 12 / days_in_year * 7 / 5
        wave = world.events["onboarding_wave"]
        boost = [c for c in clients if ("onboarding_wave" in c.roles and month == wave["month"])
                 or (c.onboard_month == month)]  # fmt: skip
        for _ in range(poisson(rng, lam_p)):
            regular = [c for c in clients if c.kind == "client"]
            if regular:
                _project(world, rng, rng.choice(regular), work_time(rng, day))
        for c in boost:
            if rng.random() < 0.15:
                _project(world, rng, c, work_time(rng, day))
        if rng.random() < 3 * 12 / days_in_year * 7 / 5:
            _sales(world, rng, day)
        for tech in techs_on(world, day):
            if rng.random() < 0.45:
                _charge_code(world, rng, tech, day)


def _new_ticket(world: World, board: str, client: Client, entered: datetime, summary: str,
                **kw) -> TicketPlan:  # fmt: skip
    t = TicketPlan(seq=world.seq(), board=board, client=client, entered=entered, summary=summary,
                   **kw)  # fmt: skip
    world.tickets.append(t)
    return t


def _entry(world: World, rng: random.Random, t: TicketPlan | None, client: Client,
           member: Member, start: datetime, minutes: int, work_type: str,
           notes: str) -> Entry:  # fmt: skip
    end = start + timedelta(minutes=minutes)
    r = rng.random()
    if r < 0.85:
        entered = end + timedelta(minutes=rng.randint(0, 20), seconds=rng.randint(0, 59))
    elif r < 0.95:
        entered = end + timedelta(hours=rng.randint(1, 6), minutes=rng.randint(0, 59))
    else:
        entered = local_dt(local_date(end) + timedelta(days=1), 8, rng.randint(0, 90) % 60)
    e = Entry(seq=world.seq(), client=client, member=member, start=start, end=end,
              entered_at=entered, hours=hours(minutes), billable="DoNotBill",
              work_type=work_type, notes=notes, ticket=t)  # fmt: skip
    world.entries.append(e)
    if t is not None:
        t.entries.append(e)
    return e


def _bill_reactive(world: World, rng: random.Random, e: Entry) -> None:
    if e.client.kind != "client":
        e.billable, e.work_type = "DoNotBill", "Internal"
        return
    cover = coverage(world, e.client, local_date(e.start))
    if cover is None:
        e.billable, e.invoice_item = "Billable", "remote_hourly"
    elif cover.type_name == "Block Time":
        e.billable, e.agreement = "Billable", cover
    elif rng.random() < 0.1:
        e.billable, e.invoice_item, e.work_type = "Billable", "onsite_hourly", "Onsite Support"
    else:
        e.billable, e.agreement = "NoCharge", cover


def _resolve_span(rng: random.Random) -> timedelta:
    r = rng.random()
    if r < 0.4:
        return timedelta(minutes=rng.randint(20, 360))
    if r < 0.75:
        return timedelta(hours=rng.randint(6, 72))
    if r < 0.95:
        return timedelta(days=rng.randint(3, 14), hours=rng.randint(0, 8))
    return timedelta(days=rng.randint(14, 45))


def _reactive(world: World, rng: random.Random, client: Client, entered: datetime,
              boundary: bool = False, parent: TicketPlan | None = None) -> TicketPlan:  # fmt: skip
    day = local_date(entered)
    techs = techs_on(world, day)
    owner = rng.choice(techs)
    summary = rng.choice(REACTIVE_SUMMARIES)
    if parent is not None:
        summary = f"Follow-up: {parent.summary}"
    t = _new_ticket(world, "Help Desk", client, entered, summary,
                    type_name=rng.choice(["Incident", "Incident", "Service Request"]),
                    subtype_name=rng.choice(["Email", "Printer", "Network", "Workstation",
                                             "User Account", "Application"]),
                    priority=rng.choices(list(PRIORITIES), weights=[3, 12, 80, 5])[0],
                    source=rng.choices(["Email", "Phone", "Portal"], weights=[5, 3, 2])[0],
                    owner=owner, parent=parent,
                    entered_by=rng.choice(["Portal", "Email Connector", owner.identifier]),
                    sla_met=rng.random() < 0.93)  # fmt: skip
    if parent is not None:
        parent.children.append(t)
    if boundary:
        world.cache.setdefault("boundary_tickets", []).append(t)
    if parent is None and not boundary and rng.random() < 0.007:
        t.delete_at = entered + timedelta(hours=rng.randint(1, 30))  # a duplicate
        return t
    span = _resolve_span(rng)
    n = rng.choices([0, 1, 2, 3], weights=[3, 60, 27, 10])[0]
    if boundary:
        n = 1
    cursor = entered + timedelta(minutes=rng.randint(5, 60))
    t.responded = cursor if n else entered + timedelta(minutes=rng.randint(10, 90))
    for i in range(n):
        minutes = 30 if boundary else rng.choices(MINUTES, weights=MINUTE_WEIGHTS)[0]
        member = owner if rng.random() < 0.8 else rng.choice(techs)
        e = _entry(world, rng, t, client, member, cursor, minutes, "Remote Support",
                   f"Worked on: {summary.lower()}")  # fmt: skip
        if boundary:
            e.entered_at = local_dt(day, 23, 50)
        _bill_reactive(world, rng, e)
        cursor = e.end + span / max(n, 1) * rng.random()
        if i == n - 1:
            cursor = e.end
    t.close_at = max(entered + span, cursor + timedelta(minutes=rng.randint(2, 30)))
    if boundary:
        t.close_at = local_dt(month_end(day + timedelta(days=1)), 22, 15)
    if span > timedelta(days=1) and rng.random() < 0.15:
        t.waiting_at = entered + span * 0.4
    r = rng.random()
    t.close_status = ">Closed" if r < 0.82 else ">Closed - No response" if r < 0.94 else "Closed"
    t.closed_by = owner
    if not boundary and parent is None and rng.random() < 0.01:
        t.close_at = None  # forgotten, stays open
    if t.close_at and not boundary and rng.random() < 0.02:
        t.reopen_at = t.close_at + timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 6))
        extra = _entry(world, rng, t, client, owner, t.reopen_at + timedelta(hours=1), 30,
                       "Remote Support", "Reopened by client")  # fmt: skip
        _bill_reactive(world, rng, extra)
        if rng.random() < 0.8:
            t.reclose_at = extra.end + timedelta(days=rng.randint(1, 4))
    if t.close_at and rng.random() < 0.1:
        t.touches.append(t.close_at + timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 9)))
    if parent is None and not boundary and rng.random() < 0.05:
        child_at = entered + timedelta(hours=rng.randint(1, 48))
        _reactive(world, rng, client, child_at, parent=t)
    return t


def _alert(world: World, rng: random.Random, client: Client, entered: datetime) -> None:
    devs = world.cache["devices_by_client"].get(client.key) or []
    host = rng.choice(devs).hostname if devs else client.names.abbr
    t = _new_ticket(world, "Alerts", client, entered,
                    rng.choice(ALERT_SUMMARIES).format(h=host), type_name="Alert",
                    priority="Priority 2 - Quick Response", source="Monitoring",
                    entered_by="NinjaOne")  # fmt: skip
    t.close_at = entered + timedelta(minutes=rng.randint(5, 240))
    t.close_status = "Closed"
    if rng.random() < 0.3:
        tech = rng.choice(techs_on(world, local_date(entered)))
        t.owner = tech
        _entry(world, rng, t, client, tech, entered + timedelta(minutes=3), 15,
               "Alert Response", "Checked alert")  # fmt: skip
        t.close_at = max(t.close_at, t.entries[-1].end + timedelta(minutes=2))
    t.closed_by = t.owner


def _project(world: World, rng: random.Random, client: Client, entered: datetime) -> None:
    day = local_date(entered)
    techs = techs_on(world, day)
    owner = rng.choice(techs)
    summary = f"Project: {rng.choice(PROJECT_SUMMARIES)}"
    t = _new_ticket(world, "Projects", client, entered, summary, record_type="ProjectTicket",
                    type_name="Project Task", priority="Priority 4 - Schedule Maintenance",
                    source="Email", owner=owner, entered_by=owner.identifier)  # fmt: skip
    span_days = rng.randint(10, 50)
    n = rng.randint(3, 8)
    total = Decimal("0")
    for i in range(n):
        work_day = day + timedelta(days=1 + span_days * i // n)
        while work_day.weekday() >= 5:
            work_day += timedelta(days=1)
        start = local_dt(work_day, rng.randint(8, 13), rng.choice([0, 15, 30, 45]))
        minutes = rng.choice([60, 90, 120, 150, 180, 240])
        e = _entry(world, rng, t, client, rng.choice(techs), start, minutes, "Project Work",
                   f"{summary}: phase {i + 1}")  # fmt: skip
        e.billable, e.invoice_item = "Billable", "project_labor"
        total += e.hours
    t.responded = t.entries[0].start
    t.close_at = t.entries[-1].end + timedelta(days=rng.randint(1, 3))
    t.close_status = "Closed"
    t.closed_by = owner
    t.budget_hours = (total * Decimal("1.2")).quantize(Decimal("1"))
    agreement = Agreement(seq=world.seq(), client=client, type_name="Project",
                          name=f"{client.names.identifier} - {summary}", start=day,
                          cycle="One Time", amount=t.budget_hours * Decimal("165.00"),
                          entered_at=entered - timedelta(hours=2), end=local_date(t.close_at),
                          ended_at=entered - timedelta(hours=2))  # fmt: skip
    world.agreements.append(agreement)
    t.agreement = agreement
    for e in t.entries:
        e.agreement = agreement


def _sales(world: World, rng: random.Random, day: date) -> None:
    prospect = world.client_by_kind("prospect")
    regular = [c for c in world.clients if c.kind == "client" and c.in_service(day)]
    client = prospect if prospect.since <= day and rng.random() < 0.3 else rng.choice(regular)
    entered = work_time(rng, day)
    owner = world.members[0]
    t = _new_ticket(world, "Sales", client, entered, rng.choice(SALES_SUMMARIES),
                    type_name="Opportunity", source="Phone", owner=owner,
                    entered_by=owner.identifier)  # fmt: skip
    t.close_at = entered + timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 8))
    t.close_status = "Closed"
    t.closed_by = owner
    if rng.random() < 0.4:
        tech = rng.choice(techs_on(world, day))
        _entry(world, rng, t, client, tech, entered + timedelta(hours=2), 30, "Sales",
               "Scoping call")  # fmt: skip


def _charge_code(world: World, rng: random.Random, tech: Member, day: date) -> None:
    code = rng.choice(CHARGE_CODES)
    start = local_dt(day, 8, rng.choice([0, 10, 20, 30]))
    e = _entry(world, rng, None, world.client_by_kind("internal"), tech, start,
               rng.choice([15, 30, 45, 60]), "Internal", code[1])  # fmt: skip
    e.charge_code = code


# -- rendering --------------------------------------------------------------------------


def _ref(world: World, kind: str, id_: int, name: str, path: str, **extra) -> dict:
    key = ("ref", kind, id_, name)
    ref = world.cache.get(key)
    if ref is None:
        ref = {"id": id_, **extra, "name": name, "_info": {f"{kind}_href": f"{BASE}/{path}/{id_}"}}
        world.cache[key] = ref
    return ref


def company_ref(world: World, c: Client) -> dict:
    return _ref(world, "company", c.cw_id, c.names.cw, "company/companies",
                identifier=c.names.identifier)  # fmt: skip


def member_ref(world: World, m: Member | None) -> dict | None:
    if m is None:
        return None
    return _ref(world, "member", m.id, f"{m.first_name} {m.last_name}", "system/members",
                identifier=m.identifier)  # fmt: skip


def board_ref(world: World, board: str) -> dict:
    return _ref(world, "board", BOARD_IDS[board], board, "service/boards")


def status_ref(world: World, board: str, status: str) -> dict:
    sid = STATUS[(board, status)][0]
    return _ref(world, "status", sid, status, f"service/boards/{BOARD_IDS[board]}/statuses")


def agreement_ref(world: World, a: Agreement | None) -> dict | None:
    if a is None or a.id is None:
        return None
    return _ref(world, "agreement", a.id, a.name, "finance/agreements")


def _contact_ref(world: World, c: Client, seq: int) -> dict | None:
    if not c.contacts:
        return None
    cid, name = c.contacts[seq % len(c.contacts)]
    return _ref(world, "contact", cid, name, "company/contacts")


def _status_at(t: TicketPlan, now: datetime, visible: list[Entry]) -> tuple[str, datetime | None]:
    """(status name, closedDate) of a ticket as of `now`."""
    if t.reclose_at and t.reclose_at <= now:
        return t.close_status, t.reclose_at
    if t.reopen_at and t.reopen_at <= now:
        return "In Progress", t.close_at  # ConnectWise keeps the old closedDate
    if t.close_at and t.close_at <= now:
        return t.close_status, t.close_at
    if t.waiting_at and t.waiting_at <= now and t.board in ("Help Desk", "Sales"):
        return "Waiting on Client", None
    if visible:
        return "In Progress", None
    return "New", None


def render_ticket(world: World, t: TicketPlan, now: datetime) -> dict:
    visible = [e for e in t.entries if e.entered_at <= now and not _gone(e.delete_at, now)]
    status, closed = _status_at(t, now, visible)
    is_closed = STATUS[(t.board, status)][1]
    stamps = [t.entered, *(e.entered_at for e in visible)]
    for moment in (t.waiting_at, t.close_at, t.reopen_at, t.reclose_at, *t.touches):
        if moment is not None and moment <= now:
            stamps.append(moment)
    for child in t.children:
        if child.entered <= now:
            stamps.append(child.entered)
    last = max(stamps)
    actual = sum((e.hours for e in visible), Decimal("0"))
    return {
        "id": t.id,
        "summary": t.summary,
        "recordType": t.record_type,
        "board": board_ref(world, t.board),
        "status": status_ref(world, t.board, status),
        "company": company_ref(world, t.client),
        "contact": _contact_ref(world, t.client, t.seq),
        "type": _ref(world, "type", _small_id(t.type_name), t.type_name, "service/types")
        if t.type_name else None,
        "subType": _ref(world, "subType", _small_id(t.subtype_name), t.subtype_name,
                        "service/subtypes") if t.subtype_name else None,
        "team": _ref(world, "team", 1 if t.board != "Projects" else 2,
                     "Service Team" if t.board != "Projects" else "Project Team",
                     "service/teams"),
        "owner": member_ref(world, t.owner),
        "priority": _ref(world, "priority", PRIORITIES[t.priority], t.priority,
                         "service/priorities"),
        "serviceLocation": _ref(world, "location", 2, "Remote", "service/locations"),
        "source": _ref(world, "source", SOURCES[t.source], t.source, "service/sources"),
        "agreement": agreement_ref(world, t.agreement if t.agreement else None),
        "severity": "Medium",
        "impact": "Medium",
        "parentTicketId": t.parent.id if t.parent else None,
        "hasChildTicket": any(c.entered <= now for c in t.children),
        "closedDate": cw_ts(closed) if closed else None,
        "closedBy": t.closed_by.identifier if closed and t.closed_by else None,
        "closedFlag": is_closed,
        "actualHours": float(actual),
        "budgetHours": float(t.budget_hours) if t.budget_hours is not None else None,
        "dateResolved": cw_ts(closed) if closed and is_closed else None,
        "dateResponded": cw_ts(t.responded) if t.responded and t.responded <= now else None,
        "isInSla": t.sla_met,
        "customFields": [],
        "_info": {
            "lastUpdated": cw_ts(last),
            "updatedBy": t.owner.identifier if t.owner and last != t.entered else t.entered_by,
            "dateEntered": cw_ts(t.entered),
            "enteredBy": t.entered_by,
        },
    }  # fmt: skip


def _small_id(name: str | None) -> int:
    return sum(map(ord, name or "")) % 97 + 1


def _gone(delete_at: datetime | None, now: datetime) -> bool:
    return delete_at is not None and delete_at <= now


def render_entry(world: World, e: Entry) -> dict:
    if e.ticket is not None:
        charge_id = e.ticket.id
        charge_type = (
            "ProjectTicket" if e.ticket.record_type == "ProjectTicket" else "ServiceTicket"
        )
        ticket = {"id": e.ticket.id, "summary": e.ticket.summary,
                  "_info": {"ticket_href": f"{BASE}/service/tickets/{e.ticket.id}"}}  # fmt: skip
    else:
        charge_id, charge_type, ticket = e.charge_code[0], "ChargeCode", None
    billed = e.hours if e.billable == "Billable" else Decimal("0")
    return {
        "id": e.id,
        "company": company_ref(world, e.client),
        "chargeToId": charge_id,
        "chargeToType": charge_type,
        "member": member_ref(world, e.member),
        "locationId": 2,
        "businessUnitId": 10,
        "workType": _ref(world, "workType", WORK_TYPES[e.work_type], e.work_type, "time/workTypes"),
        "workRole": _ref(world, "workRole", 3, "Technician", "time/workRoles"),
        "agreement": agreement_ref(world, e.agreement),
        "timeStart": cw_ts(e.start),
        "timeEnd": cw_ts(e.end),
        "hoursDeduct": 0.0,
        "actualHours": float(e.hours),
        "billableOption": e.billable,
        "notes": e.notes,
        "hoursBilled": float(billed),
        "enteredBy": e.member.identifier,
        "dateEntered": cw_ts(e.entered_at),
        "ticket": ticket,
        "_info": {"lastUpdated": cw_ts(e.entered_at), "updatedBy": e.member.identifier},
    }  # fmt: skip


def render_agreement(world: World, a: Agreement, now: datetime) -> dict:
    today = local_date(now)
    end_known = a.end is not None and (a.ended_at is None or a.ended_at <= now)
    end = a.end if end_known else None
    cancelled = a.cancelled and end_known
    if cancelled:
        status = "Cancelled"
    elif end is not None and end < today:
        status = "Expired"
    else:
        status = "Active"
    last = a.entered_at
    if a.ended_at and a.ended_at <= now and a.ended_at > last:
        last = a.ended_at
    c = a.client
    return {
        "id": a.id,
        "name": a.name,
        "type": _ref(world, "type", AGREEMENT_TYPES[a.type_name], a.type_name,
                     "finance/agreements/types"),
        "company": company_ref(world, c),
        "contact": _contact_ref(world, c, 0),
        "location": _ref(world, "location", 2, "Chicago", "system/locations"),
        "department": _ref(world, "department", 10, "Services", "system/departments",
                           identifier="Services"),
        "startDate": cw_date(a.start),
        "endDate": cw_date(end) if end else None,
        "noEndingDateFlag": end is None,
        "billAmount": float(a.amount),
        "cancelledFlag": cancelled,
        "dateCancelled": cw_date(end + timedelta(days=1)) if cancelled and end else None,
        "agreementStatus": status,
        "billingCycle": _ref(world, "billingCycle", BILLING_CYCLES[a.cycle], a.cycle,
                             "finance/billingCycles"),
        "parentAgreement": None,
        "applicationUnits": "Hours" if a.type_name == "Block Time" else "Amount",
        "applicationLimit": 10.0 if a.type_name == "Block Time" else None,
        "billableTimeInvoice": a.type_name == "Project",
        "_info": {"lastUpdated": cw_ts(last), "dateEntered": cw_ts(a.entered_at),
                  "enteredBy": world.members[0].identifier,
                  "updatedBy": world.members[0].identifier},
    }  # fmt: skip


def render_companies(world: World, now: datetime) -> list[dict]:
    today = local_date(now)
    out = []
    for c in sorted(world.clients, key=lambda c: c.cw_id):
        entered = local_dt(c.since, 10, 0)
        if entered > now:
            continue
        last = entered
        types = {"client": "Client", "internal": "Owner", "prospect": "Prospect",
                 "vendor": "Vendor"}[c.kind]  # fmt: skip
        status = "Active"
        if c.onboard_month is not None:
            became = local_dt(c.onboard_month - timedelta(days=10), 9, 0)
            if became > now:
                types = "Prospect"
            else:
                last = max(last, became)
        if c.churn_end is not None and c.churn_end + timedelta(days=10) <= today:
            status = "Inactive"
            last = max(last, local_dt(c.churn_end + timedelta(days=10), 9, 0))
        out.append({
            "id": c.cw_id,
            "identifier": c.names.identifier,
            "name": c.names.cw,
            "status": _ref(world, "status", 1 if status == "Active" else 2, status,
                           "company/companies/statuses"),
            "types": [_ref(world, "companyType", {"Client": 1, "Owner": 2, "Prospect": 3,
                                                  "Vendor": 4}[types], types,
                           "company/companies/types")],
            "addressLine1": f"{100 + c.key * 7} Main Street",
            "city": "Chicago" if c.key % 3 else "Naperville",
            "state": "IL",
            "zip": f"60{601 + c.key % 90:03d}",
            "country": _ref(world, "country", 1, "United States", "company/countries"),
            "phoneNumber": f"312555{1000 + c.key:04d}",
            "website": f"www.{c.names.identifier.lower()}.com",
            "deletedFlag": False,
            "dateDeleted": None,
            "leadFlag": c.kind == "prospect",
            "isVendorFlag": c.kind == "vendor",
            "dateAcquired": cw_date(c.since),
            "_info": {"lastUpdated": cw_ts(last), "dateEntered": cw_ts(entered),
                      "enteredBy": world.members[0].identifier},
        })  # fmt: skip
    return out


def render_boards(world: World) -> list[dict]:
    entered = cw_ts(local_dt(world.start_month.replace(year=world.start_month.year - 5), 9))
    return [
        {"id": bid, "name": name, "location": _ref(world, "location", 2, "Chicago",
                                                   "system/locations"),
         "department": _ref(world, "department", 10, "Services", "system/departments",
                            identifier="Services"),
         "inactiveFlag": False, "projectFlag": project, "showDependenciesFlag": False,
         "_info": {"lastUpdated": entered, "dateEntered": entered}}
        for bid, name, project, _ in BOARDS
    ]  # fmt: skip


def render_members(world: World, now: datetime) -> list[dict]:
    out = []
    for m in world.members:
        entered = local_dt(m.start - timedelta(days=3), 9)
        if entered > now:
            continue
        inactive = m.inactive_from is not None and local_dt(m.inactive_from, 9) <= now
        last = local_dt(m.inactive_from, 9) if inactive else entered
        out.append({
            "id": m.id, "identifier": m.identifier, "firstName": m.first_name,
            "lastName": m.last_name, "title": m.title, "inactiveFlag": inactive,
            "officeEmail": f"{m.identifier}@enersystems.example",
            "licenseClass": "F" if m.technician else "A",
            "_info": {"lastUpdated": cw_ts(last), "dateEntered": cw_ts(entered)},
        })  # fmt: skip
    return out
