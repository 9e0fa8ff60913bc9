"""NinjaOne devices and the daily inventory snapshots built from them.

Each device has a life (added, removed, maybe moved out of "Spare Stock").
Snapshot rows are never stored: `iter_snapshots` derives each row on the fly
from the device plan and the day, with the day-to-day noise (online status,
last-online time) taken from a hash of (device, day) rather than a random
stream, so any day range can be produced alone and in any order. That keeps
memory flat for the `large` preset (10,000 devices x 1,100 days).

What the rows exercise: workstations, Macs, servers, VM hosts, a few VM
guests (the real collector skips those; the sandbox keeps some so the "VM
guests never count" rule is tested), spares by name ("SPARE-...", and one
"Loaner laptop (spare)"), spares by location ("Spare Stock"), the MSP's own
devices ("Enersystems - Internal"), a day with no snapshots at all, and
ThreatLocker rows for ~90% of Windows/Mac devices starting a little later.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from sandbox.generator.timeutil import days, epoch, local_date, local_dt
from sandbox.generator.world import Client, Device, Location, World

DEVICE_TYPE = {
    "WINDOWS_WORKSTATION": "workstation",
    "MAC": "workstation",
    "WINDOWS_SERVER": "server",
    "VMWARE_VM_HOST": "vm_host",
    "VMWARE_VM_GUEST": "vm_guest",
}
HARDWARE = {
    "WS": ("Dell Inc.", "OptiPlex 7010", "Windows 11 Professional Edition"),
    "LT": ("LENOVO", "ThinkPad T14 Gen 4", "Windows 11 Professional Edition"),
    "OLD": ("HP", "EliteDesk 800 G5", "Windows 10 Professional Edition"),
    "MAC": ("Apple Inc.", "MacBookPro18,3", "macOS Sonoma 14.6"),
    "SRV": ("Dell Inc.", "PowerEdge R650", "Windows Server 2022 Standard Edition"),
    "ESX": ("Dell Inc.", "PowerEdge R750", "VMware ESXi 8.0.2"),
    "VM": ("VMware, Inc.", "VMware Virtual Platform", "Windows Server 2019 Standard Edition"),
}
HORIZON_DAYS = 400  # devices are planned this far past today, for advance()


class _Builder:
    """Creates the devices of one client with consistent hostnames."""

    def __init__(self, world: World, rng: random.Random, client: Client) -> None:
        self.world, self.rng, self.client = world, rng, client
        self.counters: dict[str, int] = {}
        self.main = client.locations[0]
        self.spare_loc = next((loc for loc in client.locations if loc.spare), None)
        self.offices = [loc for loc in client.locations if not loc.spare]

    def add(self, kind: str, node_class: str, added: date, *, location: Location | None = None,
            spare_name: bool = False, parent: Device | None = None) -> Device:  # fmt: skip
        rng, abbr = self.rng, self.client.names.abbr
        n = self.counters[kind] = self.counters.get(kind, 0) + 1
        hostname = f"SPARE-{abbr}-{n:02d}" if spare_name else f"{abbr}-{kind}{n:03d}"
        display = hostname
        if not spare_name and kind in ("WS", "LT") and rng.random() < 0.25:
            display = f"{rng.choice(['Reception', 'Front Desk', 'Office', 'Exam Room', 'Shop'])}"
            display += f" {n} ({hostname})"
        manufacturer, model, os_name = HARDWARE[kind if kind != "WS" or rng.random() > 0.2
                                                else "OLD"]  # fmt: skip
        dev = Device(id=0, client=self.client,
                     location=location or (rng.choice(self.offices) if node_class in
                                           ("WINDOWS_WORKSTATION", "MAC") else self.main),
                     node_class=node_class, hostname=hostname, display_name=display,
                     os_name=os_name, added=added, parent=parent,
                     manufacturer=manufacturer, model=model,
                     serial=f"{rng.getrandbits(40):010X}", seq=self.world.seq())  # fmt: skip
        if node_class in ("WINDOWS_WORKSTATION", "MAC", "WINDOWS_SERVER") and rng.random() < 0.9:
            dev.tl_key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            dev.tl_lag = rng.randint(0, 6)
        dev.created_ts = epoch(local_dt(added, rng.randint(8, 17), rng.randint(0, 59))) + round(
            rng.random(), 3
        )
        self.world.devices.append(dev)
        return dev


def plan_devices(world: World) -> None:
    rng = world.rng("devices")
    start, today = world.start_month, world.today
    ev = world.events
    for c in world.clients:
        if c.kind not in ("client", "internal"):
            continue
        b = _Builder(world, rng, c)

        def first_seen(c: Client = c) -> date:
            if c.onboard_month:
                return c.onboard_month + timedelta(days=rng.randint(2, 20))
            return start - timedelta(days=rng.randint(1, 1400))

        size = c.size
        servers = 0 if size < 5 else max(1, round(size * 0.07))
        hosts = (1 + (size > 60)) if size >= 12 and rng.random() < 0.45 else 0
        spares = 0 if size < 8 else max(1, round(size * 0.06))
        workstations = max(1, size - servers - hosts - spares)
        mine: list[Device] = []
        for _ in range(servers):
            mine.append(b.add("SRV", "WINDOWS_SERVER", first_seen()))
        for _ in range(hosts):
            host = b.add("ESX", "VMWARE_VM_HOST", first_seen())
            mine.append(host)
            for _ in range(rng.randint(1, 3)):
                mine.append(b.add("VM", "VMWARE_VM_GUEST", host.added, parent=host))
        grow_from = c.onboard_month is None
        for _ in range(workstations):
            mac = rng.random() < 0.08
            kind = "MAC" if mac else rng.choice(["WS", "WS", "LT"])
            added = first_seen()
            if grow_from and rng.random() < 0.08:
                added = start + timedelta(days=rng.randint(0, (today - start).days))
            mine.append(b.add(kind, "MAC" if mac else "WINDOWS_WORKSTATION", added))
        for i in range(spares):
            by_name = i % 2 == 1 or b.spare_loc is None
            dev = b.add("WS", "WINDOWS_WORKSTATION", first_seen(),
                        location=b.main if by_name else b.spare_loc, spare_name=by_name)  # fmt: skip
            if not by_name and rng.random() < 0.3:
                dev.moved_on = start + timedelta(days=rng.randint(30, (today - start).days))
                dev.moved_to = b.main
            mine.append(dev)
        if c.key == 1:  # Acme: a spare only its display name gives away
            dev = b.add("LT", "WINDOWS_WORKSTATION", first_seen())
            dev.display_name = "Loaner laptop (spare)"
            mine.append(dev)

        _plan_retirements(world, rng, b, mine)
        _plan_role_events(world, rng, b, mine, c, ev)
        _plan_future(world, rng, b, c)

    # ids in order of enrollment, like NinjaOne
    for i, dev in enumerate(sorted(world.devices, key=lambda d: (d.added, d.seq)), start=1):
        dev.id = i
    world.devices.sort(key=lambda d: d.id)
    by_client: dict[int, list[Device]] = {}
    for dev in world.devices:
        by_client.setdefault(dev.client.key, []).append(dev)
    world.cache["devices_by_client"] = by_client
    wave = ev["onboarding_wave"]
    if wave.get("client"):
        wave["devices_added"] = world.cache.get("wave_devices", 0)


def _plan_retirements(world: World, rng: random.Random, b: _Builder, mine: list[Device]) -> None:
    """Old workstations are retired and replaced by a new one set up a few days before."""
    start, today = world.start_month, world.today
    span = (today - start).days
    for dev in list(mine):
        if dev.node_class != "WINDOWS_WORKSTATION" or dev.added >= start:
            continue
        if "SPARE" in dev.hostname or dev.location.spare:
            continue
        if rng.random() < 0.12 * span / 365:
            gone = start + timedelta(days=rng.randint(10, span))
            dev.removed = gone
            kind = "LT" if "-LT" in dev.hostname else "WS"
            repl = b.add(kind, "WINDOWS_WORKSTATION", gone - timedelta(days=rng.randint(0, 7)),
                         location=dev.location)  # fmt: skip
            mine.append(repl)


def _plan_role_events(world, rng, b: _Builder, mine: list[Device], c: Client, ev: dict) -> None:
    if "onboarding_wave" in c.roles:
        month = ev["onboarding_wave"]["month"]
        count = min(60, max(12, round(world.preset.endpoints * 0.04), round(c.size * 0.7)))
        for _ in range(count):
            added = month + timedelta(days=rng.randint(3, 20))
            mine.append(b.add(rng.choice(["WS", "LT"]), "WINDOWS_WORKSTATION", added))
        world.cache["wave_devices"] = count
    if "shrink" in c.roles:
        month = ev["shrink"]["month"]
        live = [d for d in mine if d.node_class == "WINDOWS_WORKSTATION" and d.removed is None
                and d.added < month and not d.location.spare and "SPARE" not in d.hostname]  # fmt: skip
        for dev in rng.sample(live, k=max(3, round(len(live) * 0.35))):
            dev.removed = month + timedelta(days=rng.randint(4, 24))
    if c.churn_end is not None:
        for dev in mine:
            gone = c.churn_end + timedelta(days=rng.randint(2, 9))
            if dev.removed is None or dev.removed > gone:
                dev.removed = gone
            if dev.added >= gone:  # a replacement planned after the client left
                world.devices.remove(dev)


def _plan_future(world: World, rng: random.Random, b: _Builder, c: Client) -> None:
    """A trickle of new workstations after today, so advance() sees enrollments."""
    if c.churn_end is not None or c.kind != "client":
        return
    day = world.today
    while True:
        day += timedelta(days=rng.randint(20, 120))
        if day > world.today + timedelta(days=HORIZON_DAYS):
            return
        b.add("WS", "WINDOWS_WORKSTATION", day)


# -- per-client counts --------------------------------------------------------


def devices_in_month(world: World, client: Client, month: date) -> int:
    """Devices of a client active on the 15th of `month` (ticket weighting)."""
    if month not in client.device_counts:
        probe = month + timedelta(days=14)
        client.device_counts[month] = sum(
            1
            for d in world.cache["devices_by_client"].get(client.key, ())
            if d.added <= probe and (d.removed is None or d.removed > probe)
            and d.node_class != "VMWARE_VM_GUEST"
        )  # fmt: skip
    return client.device_counts[month]


# -- snapshots ------------------------------------------------------------------


def snapshot_dates(world: World, today: date, vendor: str) -> list[date]:
    if vendor not in ("NinjaRMM", "ThreatLocker"):
        raise ValueError(f"unknown vendor {vendor!r}")
    first = world.start_month if vendor == "NinjaRMM" else world.tl_start
    return [d for d in days(first, today) if d != world.missing_day]


def _is_spare(dev: Device, location: Location) -> bool:
    return (
        location.spare
        or "spare" in dev.display_name.lower()
        or "spare" in dev.hostname.lower()
        or "spare" in location.name.lower()
    )


def _tl_org_key(world: World, client: Client) -> str:
    rnd = random.Random(f"{world.seed}:tl-org:{client.key}")
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def _templates(world: World, vendor: str) -> list[tuple]:
    """Per device: (first ordinal, end ordinal or None, move ordinal, rows before/after)."""
    key = ("snapshot_templates", vendor)
    if key in world.cache:
        return world.cache[key]
    out = []
    devs = world.devices if vendor == "NinjaRMM" else sorted(
        (d for d in world.devices if d.tl_key), key=lambda d: d.tl_key)  # fmt: skip
    for dev in devs:
        org = dev.client.names.ninja

        def row(loc: Location, dev: Device = dev, org: str = org) -> dict:
            dtype = DEVICE_TYPE[dev.node_class]
            if vendor == "NinjaRMM":
                return {"vendor": "NinjaRMM", "snapshot_date": None,
                        "vendor_device_key": str(dev.id),
                        "vendor_site_key": str(dev.client.ninja_org_id), "site_name": org,
                        "organization_name": org, "display_name": dev.display_name,
                        "hostname": dev.hostname, "location_name": loc.name,
                        "node_class": dev.node_class, "device_type": dtype,
                        "billing_status": "spare" if _is_spare(dev, loc) else "billable",
                        "os_name": dev.os_name, "device_status": None,
                        "last_online": None}  # fmt: skip
            group = "Servers" if dtype == "server" else "Workstations"
            return {"vendor": "ThreatLocker", "snapshot_date": None,
                    "vendor_device_key": dev.tl_key,
                    "vendor_site_key": _tl_org_key(world, dev.client), "site_name": org,
                    "organization_name": org, "display_name": dev.hostname,
                    "hostname": dev.hostname, "location_name": group, "node_class": None,
                    "device_type": dtype,
                    "billing_status": "spare" if _is_spare(dev, loc) else "billable",
                    "os_name": dev.os_name, "device_status": None,
                    "last_online": None}  # fmt: skip

        lag = dev.tl_lag if vendor == "ThreatLocker" else 0
        first = dev.added.toordinal() + lag
        end = dev.removed.toordinal() if dev.removed else None
        move = dev.moved_on.toordinal() if dev.moved_on else None
        after = row(dev.moved_to) if dev.moved_to else None
        out.append((first, end, move, row(dev.location), after, dev.id, lag))
    world.cache[key] = out
    return out


def _noise(device_id: int, ordinal: int) -> int:
    return ((device_id * 1_000_003) ^ (ordinal * 97_531)) * 2_654_435_761 % 4_294_967_291


def iter_snapshots(world: World, today: date, vendor: str, start: date | None,
                   end: date | None) -> Iterator[dict]:  # fmt: skip
    dates = snapshot_dates(world, today, vendor)
    templates = _templates(world, vendor)
    ninja = vendor == "NinjaRMM"
    for day in dates:
        if (start and day < start) or (end and day > end):
            continue
        o = day.toordinal()
        collected = local_dt(day, 5, 0)
        for first, stop, move, before, after, dev_id, lag in templates:
            if first > o or (stop is not None and o >= stop):
                continue
            row = dict(after if move is not None and o >= move else before)
            h = _noise(dev_id, o)
            offline = h % 100 < (12 if row["device_type"] == "workstation" else 2)
            row["snapshot_date"] = day
            if ninja:
                row["device_status"] = "offline" if offline else "online"
            else:
                row["device_status"] = "Learning" if o - first < 7 - lag else "Secured"
            row["last_online"] = collected - timedelta(minutes=(h >> 8) % (4000 if offline else 15))
            yield row


# -- NinjaOne API records ---------------------------------------------------------


def render_ninja(world: World, now: datetime) -> tuple[list[dict], list[dict], list[dict]]:
    today = local_date(now)
    orgs, locations, devices = [], [], []
    for c in sorted((c for c in world.clients if c.ninja_org_id), key=lambda c: c.ninja_org_id):
        orgs.append({"id": c.ninja_org_id, "name": c.names.ninja,
                     "description": "Internal IT" if c.kind == "internal" else c.names.cw,
                     "nodeApprovalMode": "AUTOMATIC", "tags": [], "fields": {}})  # fmt: skip
        for loc in c.locations:
            locations.append({"id": loc.id, "name": loc.name, "address": None,
                              "description": "Unassigned stock" if loc.spare else "",
                              "organizationId": c.ninja_org_id, "tags": [],
                              "fields": {}})  # fmt: skip
    locations.sort(key=lambda r: r["id"])
    o = today.toordinal()
    for dev in world.devices:
        if dev.added > today or (dev.removed is not None and dev.removed <= today):
            continue
        loc = dev.moved_to if dev.moved_on and dev.moved_on <= today else dev.location
        h = _noise(dev.id, o)
        offline = h % 100 < (12 if DEVICE_TYPE[dev.node_class] == "workstation" else 2)
        last = now - timedelta(minutes=(h >> 8) % (4000 if offline else 15))
        devices.append({
            "id": dev.id, "parentDeviceId": dev.parent.id if dev.parent else None,
            "organizationId": dev.client.ninja_org_id, "locationId": loc.id,
            "nodeClass": dev.node_class, "nodeRoleId": 1, "rolePolicyId": 1, "policyId": 1,
            "approvalStatus": "APPROVED", "offline": offline,
            "displayName": dev.display_name, "systemName": dev.hostname,
            "dnsName": f"{dev.hostname.lower()}.local", "netbiosName": dev.hostname[:15],
            "created": dev.created_ts, "lastContact": round(epoch(last), 3),
            "lastUpdate": round(epoch(last) + 0.5, 3), "tags": [], "fields": {},
            "os": {"manufacturer": dev.manufacturer.split(" ")[0], "name": dev.os_name,
                   "architecture": "64-bit"},
            "system": {"manufacturer": dev.manufacturer, "model": dev.model,
                       "serialNumber": dev.serial, "name": dev.hostname},
        })  # fmt: skip
    return orgs, locations, devices


def removed_devices(world: World, today: date) -> dict[int, datetime]:
    """Devices deleted from NinjaOne by `today` (they existed first)."""
    return {
        d.id: local_dt(d.removed, 9)
        for d in world.devices
        if d.removed is not None and d.removed <= today and d.added < d.removed
    }
