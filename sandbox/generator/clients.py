"""Members, client companies (with their roles in the planted events) and agreements.

Every regular client gets a billing model: `managed` (monthly Managed
Services agreement, most clients, some also Managed Security), `annual`
(Managed Services billed yearly: counts as an agreement, its revenue is ORR,
and it contributes no MRR), or `block` (prepaid Block Time agreements; reactive
work is drawn down from the block). Roles place the planted events on
specific clients; `msp.events` records which.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sandbox.generator.names import ClientNames, client_names
from sandbox.generator.timeutil import add_months, local_dt, month_end
from sandbox.generator.world import Agreement, Client, Location, Member, World
from sandbox.msp import (
    INTERNAL_COMPANY,
    INTERNAL_IDENTIFIER,
    INTERNAL_NINJA_ORG,
    MAPPED_COMPANY,
    MAPPED_IDENTIFIER,
    MAPPED_NINJA_ORG,
    MAPPED_QBO_CUSTOMER,
    PROSPECT_COMPANY,
    VENDOR_COMPANY,
)

FIRST = ["Alex", "Jordan", "Casey", "Morgan", "Taylor", "Riley", "Jamie", "Drew", "Quinn",
         "Avery", "Cameron", "Devin", "Emerson", "Harper", "Logan", "Parker", "Reese", "Rowan",
         "Sawyer", "Skyler", "Blake", "Dakota", "Hayden", "Jesse", "Kendall", "Micah"]  # fmt: skip
LAST = ["Anderson", "Brooks", "Coleman", "Dawson", "Ellis", "Foster", "Grant", "Hughes",
        "Irwin", "Jensen", "Keller", "Lambert", "Meyer", "Novak", "Olsen", "Pierce", "Quist",
        "Ramsey", "Sutton", "Thorne", "Underwood", "Vaughn", "Walker", "Young", "Zimmer"]  # fmt: skip

SECURITY_UNIT_PRICE = Decimal("12.00")
BLOCK_HOURS = Decimal("10")
BLOCK_RATE = Decimal("165.00")


def plan_members(world: World) -> None:
    """Technicians (one leaves mid-history and is replaced) plus the owner."""
    rng = world.rng("members")
    start = world.start_month
    n = world.preset.technicians
    used: set[str] = set()
    members: list[Member] = []

    def person(title: str, begin: date, technician: bool = True) -> Member:
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            ident = (first[0] + last).lower()
            if ident not in used:
                used.add(ident)
                break
        return Member(id=0, identifier=ident, first_name=first, last_name=last, title=title,
                      start=begin, technician=technician)  # fmt: skip

    members.append(person("Owner", start - timedelta(days=3650), technician=False))
    for i in range(n):
        title = "Service Manager" if i == 0 else rng.choice(["Technician I", "Technician II",
                                                              "Senior Engineer"])  # fmt: skip
        members.append(person(title, start - timedelta(days=rng.randint(60, 2000))))
    leaver = members[-1]
    mid = world.months[len(world.months) // 2]
    leaver.inactive_from = mid + timedelta(days=9)
    members.append(person("Technician I", mid + timedelta(days=2)))
    for i, m in enumerate(members):
        m.id = 140 + i
    world.members = members


def _client(world: World, key: int, kind: str, names: ClientNames, since: date) -> Client:
    return Client(key=key, kind=kind, names=names, cw_id=0, since=since)


def plan_clients(world: World) -> None:
    rng = world.rng("clients")
    preset, start, months = world.preset, world.start_month, world.months
    ev = world.events
    regular = client_names(preset.clients - 1, rng)
    regular.insert(1, ClientNames(MAPPED_COMPANY, MAPPED_IDENTIFIER, MAPPED_QBO_CUSTOMER,
                                  MAPPED_NINJA_ORG, "BRV"))  # fmt: skip
    clients: list[Client] = []
    internal = _client(world, 0, "internal",
                       ClientNames(INTERNAL_COMPANY, INTERNAL_IDENTIFIER, "", INTERNAL_NINJA_ORG,
                                   "ENER"), start - timedelta(days=3650))  # fmt: skip
    internal.size = max(6, round(preset.endpoints * 0.025))
    clients.append(internal)

    sizes = [rng.lognormvariate(0, 0.75) for _ in regular]
    budget = preset.endpoints - internal.size
    scale = budget / sum(sizes)
    for i, names in enumerate(regular, start=1):
        c = _client(world, i, "client", names, start - timedelta(days=rng.randint(90, 2900)))
        c.size = max(3, round(sizes[i - 1] * scale))
        c.billing = "managed"
        c.seat_price = Decimal(rng.choice(["105.00", "110.00", "115.00", "120.00", "125.00",
                                           "135.00"]))  # fmt: skip
        c.server_price = Decimal(rng.choice(["175.00", "200.00", "225.00", "250.00"]))
        c.security = rng.random() < 0.4
        c.license_renewal = rng.random() < 0.5
        clients.append(c)

    acme, brv = clients[1], clients[2]
    acme.security = True
    acme.roles.append("steady")
    brv.security = True
    brv.security_from = ev["security_upsell"]["month"]
    brv.roles.append("security_upsell")
    role_order = ["churn", "new_client", "onboarding_wave", "shrink", "annual", "block"]
    for role, c in zip(role_order, clients[3:], strict=False):
        c.roles.append(role)
    extra = clients[3 + len(role_order) :]
    if extra:
        extra[0].roles.append("slow_payer")
    else:
        clients[5].roles.append("slow_payer")

    # role details
    for c in clients[1:]:
        if "churn" in c.roles:
            c.churn_end = month_end(ev["churn"]["last_month"])
            c.security = True
        if "new_client" in c.roles:
            c.onboard_month = ev["new_client"]["month"]
            c.since = c.onboard_month - timedelta(days=rng.randint(20, 70))
            c.security = True
            c.size = max(c.size, 10)
        if "onboarding_wave" in c.roles:
            c.size = max(c.size, 15)
        if "shrink" in c.roles:
            c.size = max(c.size, 12)
        if "annual" in c.roles:
            c.billing, c.security = "annual", False
            c.size = min(c.size, 12)
        if "block" in c.roles:
            c.billing, c.security = "block", False
        if "slow_payer" in c.roles:
            c.slow_payer = True

    # background movements on the remaining clients (demo and large only)
    pool = [c for c in extra[1:]]
    rng.shuffle(pool)
    n_new = round(preset.clients * 0.05)
    n_churn = round(preset.clients * 0.04)
    inner = months[1:-2]
    for c in pool[:n_new]:
        c.onboard_month = rng.choice(inner)
        c.since = c.onboard_month - timedelta(days=rng.randint(20, 70))
        c.roles.append("background_new")
    for c in pool[n_new : n_new + n_churn]:
        c.churn_end = month_end(rng.choice(inner))
        c.roles.append("background_churn")
    for c in pool[n_new + n_churn :]:
        if rng.random() < 0.08:
            c.billing, c.security = "block", False

    prospect = _client(world, len(clients), "prospect",
                       ClientNames(PROSPECT_COMPANY, "SummitProspect", "", "", "SUMM"),
                       months[len(months) // 3] + timedelta(days=11))  # fmt: skip
    vendor = _client(world, len(clients) + 1, "vendor",
                     ClientNames(VENDOR_COMPANY, "Pax8", "", "", "PAX8"),
                     start - timedelta(days=1500))  # fmt: skip
    clients += [prospect, vendor]

    # ids in order of creation, like the real systems
    by_since = sorted(clients, key=lambda c: (c.since, c.key))
    loc_id = 1
    org_id = 1
    for i, c in enumerate(by_since):
        c.cw_id = 250 + i * 3 + rng.randint(0, 2)
        c.contacts = [(9000 + c.key * 10 + j, f"{rng.choice(FIRST)} {rng.choice(LAST)}")
                      for j in range(2)]  # fmt: skip
        if c.kind in ("client", "internal"):
            c.ninja_org_id = org_id
            org_id += 1
            names = ["HQ"] if c.kind == "internal" else ["Main Office"]
            if c.size >= 20 and rng.random() < 0.4:
                names.append("Branch Office")
            names.append("Spare Stock")
            for name in names:
                c.locations.append(Location(loc_id, c.ninja_org_id, name, spare="Spare" in name))
                loc_id += 1
    world.clients = clients
    world.events["churn"]["client"] = _role(clients, "churn")
    world.events["new_client"]["client"] = _role(clients, "new_client")
    world.events["onboarding_wave"]["client"] = _role(clients, "onboarding_wave")
    world.events["shrink"]["client"] = _role(clients, "shrink")
    world.events["security_upsell"]["client"] = _role(clients, "security_upsell")


def _role(clients: list[Client], role: str) -> dict | None:
    c = next((c for c in clients if role in c.roles), None)
    if c is None:
        return None
    return {"cw_company_id": c.cw_id, "cw_name": c.names.cw, "ninja_org": c.names.ninja,
            "qbo_customer": c.names.qbo}  # fmt: skip


# -- agreements -------------------------------------------------------------


def counts_on(world: World, client: Client, day: date) -> tuple[int, int]:
    """(seats, servers) of a client's billable devices on `day`, for pricing."""
    seats = servers = 0
    for d in world.cache["devices_by_client"].get(client.key, ()):
        if d.added > day or (d.removed is not None and d.removed <= day):
            continue
        loc = d.moved_to if d.moved_on and d.moved_on <= day else d.location
        if loc.spare or "spare" in d.display_name.lower() or "spare" in d.hostname.lower():
            continue
        if d.node_class in ("WINDOWS_WORKSTATION", "MAC"):
            seats += 1
        elif d.node_class in ("WINDOWS_SERVER", "VMWARE_VM_HOST"):
            servers += 1
    return seats, servers


def plan_agreements(world: World) -> None:
    rng = world.rng("agreements")
    ev = world.events
    history = world.months
    for c in world.clients:
        if c.kind != "client":
            continue
        start0 = c.service_start
        if c.billing in ("managed", "annual"):
            _plan_managed(world, rng, c, start0, history, ev)
        if c.billing == "block":
            _plan_blocks(world, c, start0)
        if c.security:
            begin = c.security_from or start0
            seats, servers = counts_on(world, c, _pricing_day(world, c, begin))
            units = max(1, seats + servers)
            a = Agreement(seq=world.seq(), client=c, type_name="Managed Security",
                          name=f"{c.names.identifier} - Managed Security", start=begin,
                          cycle="Monthly", amount=units * SECURITY_UNIT_PRICE,
                          entered_at=local_dt(begin - timedelta(days=6), 11, 5),
                          seats=units, seat_price=SECURITY_UNIT_PRICE)  # fmt: skip
            _maybe_cancel(c, a)
            world.agreements.append(a)


def _pricing_day(world: World, c: Client, begin: date) -> date:
    """The device count a price is based on: history start for old clients,
    the end of the onboarding month for new ones."""
    if c.onboard_month and begin == c.onboard_month:
        return month_end(begin)
    return max(begin, world.start_month)


def _managed(world: World, c: Client, begin: date, seats: int, servers: int, note: str,
             entered: date) -> Agreement:  # fmt: skip
    amount = seats * c.seat_price + servers * c.server_price
    annual = c.billing == "annual"
    if annual:
        amount = (amount * 12 * Decimal("0.95")).quantize(Decimal("1.00"))
    return Agreement(seq=world.seq(), client=c, type_name="Managed Services",
                     name=f"{c.names.identifier} - Managed Services{note}", start=begin,
                     cycle="Annual" if annual else "Monthly", amount=amount,
                     entered_at=local_dt(entered, 10, 30), seats=seats, servers=servers,
                     seat_price=c.seat_price, server_price=c.server_price)  # fmt: skip


def _plan_managed(world, rng, c: Client, start0: date, history: list[date], ev: dict) -> None:
    seats, servers = counts_on(world, c, _pricing_day(world, c, start0))
    current = _managed(world, c, start0, seats, servers, "", start0 - timedelta(days=8))
    agreements = [current]
    forced = {}
    if "onboarding_wave" in c.roles:
        forced[add_months(ev["onboarding_wave"]["month"], 1)] = "true-up"
    if "shrink" in c.roles:
        forced[add_months(ev["shrink"]["month"], 1)] = "reduction"
    for month in history[1:]:
        if month <= start0 or (c.churn_end and month > c.churn_end):
            continue
        if c.billing == "annual" and month not in forced:
            continue
        note = forced.get(month)
        if note is None and not (month.month == c.since.month and rng.random() < 0.5):
            continue
        seats, servers = counts_on(world, c, month - timedelta(days=1))
        new_amount = seats * c.seat_price + servers * c.server_price
        old_amount = current.seats * c.seat_price + current.servers * c.server_price
        if note is None and abs(new_amount - old_amount) < old_amount * Decimal("0.03"):
            continue
        note = note or "renewal"
        keyed = month - timedelta(days=rng.randint(3, 12))
        current.end = month - timedelta(days=1)
        current.ended_at = local_dt(keyed, 14, 10)
        current = _managed(world, c, month, seats, servers, f" ({month:%Y-%m} {note})", keyed)
        current.entered_at = local_dt(keyed, 14, 10)
        agreements.append(current)
    _maybe_cancel(c, current)
    world.agreements.extend(agreements)


def _maybe_cancel(c: Client, a: Agreement) -> None:
    """Cancelled agreements: endDate = last billed day, dateCancelled = the day after."""
    if c.churn_end is not None and (a.end is None or a.end > c.churn_end):
        a.end = c.churn_end
        a.cancelled = True
        a.ended_at = local_dt(c.churn_end - timedelta(days=12), 15, 40)


def _plan_blocks(world: World, c: Client, start0: date) -> None:
    """Prepaid 10-hour blocks, bought every four months."""
    month = max(start0, add_months(world.start_month, -3))
    while month <= world.today:
        end = add_months(month, 4) - timedelta(days=1)
        if c.churn_end and month > c.churn_end:
            break
        world.agreements.append(
            Agreement(
                seq=world.seq(),
                client=c,
                type_name="Block Time",
                name=f"{c.names.identifier} - Block Time 10h ({month:%Y-%m})",
                start=month,
                cycle="One Time",
                amount=BLOCK_HOURS * BLOCK_RATE,
                entered_at=local_dt(month - timedelta(days=2), 9, 15),
                end=end,
                ended_at=local_dt(month - timedelta(days=2), 9, 15),
            )  # fmt: skip
        )
        month = add_months(month, 4)


def active_on(a: Agreement, day: date) -> bool:
    """The activity rule documented in sandbox.msp (dates, never agreementStatus)."""
    return a.start <= day and (a.end is None or a.end >= day)
