"""NinjaOne (optional) -> raw_ninjaone, plus today's device snapshot in the inventory shape.

For installs without the MSP's own NinjaOne collector. Two parts:

1. A dlt source: organizations, locations and devices (`/v2/devices-detailed`)
   with OAuth2 client credentials (scope `monitoring`), paged with `pageSize`
   and `after` = last id (`AfterIdPaginator`), merged on id. NinjaOne has no
   "changed since" filter, so every run reads everything; that read doubles
   as the deletion sweep (`_deleted_at`).
2. After the load, one daily snapshot row per device is written into the
   inventory tables (`<QBR_INVENTORY_SCHEMA>`: vendor, site, device_identity,
   device_type, billing_status, device_snapshot; docs/contracts.md section 2)
   exactly as the collector would: vendor `NinjaRMM`, site = organization,
   VM guests skipped, `spare` when the name or location says so. Re-running
   on the same day replaces that day's rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import psycopg
from psycopg import sql

from dlt_pipelines.auth import NinjaOneAuth
from dlt_pipelines.constants import DATASETS
from dlt_pipelines.deletions import Deletions
from dlt_pipelines.http import SourceClient, ninjaone_message
from dlt_pipelines.ninjaone.settings import (
    NINJA_PAGE_SIZE,
    NINJA_RESOURCES,
    NINJA_SCOPE,
    NINJA_SKIPPED_NODE_CLASSES,
    NINJA_TOKEN_PATH,
    NINJA_VENDOR,
)
from dlt_pipelines.paginators import AfterIdPaginator
from dlt_pipelines.quarantine import SCHEMA_CONTRACT, Field, Quarantine, Rules, split
from dlt_pipelines.runner import run_source
from qbr import inventory
from qbr import sources as registry

LABEL = registry.REGISTRY["ninjaone"].label  # qbr/sources.py
ID = Field("id", "int", required=True)

RULES: dict[str, Rules] = {
    "organizations": Rules((ID, Field("name", "text"), Field("description", "text"))),
    "locations": Rules(
        (ID, Field("name", "text"), Field("organizationId", "int"), Field("description", "text"))
    ),
    "devices": Rules(
        (
            ID,
            Field("parentDeviceId", "int"),
            Field("organizationId", "int", required=True),
            Field("locationId", "int"),
            Field("nodeClass", "text", required=True),
            Field("approvalStatus", "text"),
            Field("offline", "bool"),
            Field("displayName", "text"),
            Field("systemName", "text"),
            Field("dnsName", "text"),
            Field("created", "number", non_negative=True),
            Field("lastContact", "number", non_negative=True),
            Field("os.name", "text"),
            Field("system.manufacturer", "text"),
            Field("system.model", "text"),
            Field("system.serialNumber", "text"),
        )
    ),
}

#: node class -> inventory device_type code
DEVICE_TYPES = {
    "WINDOWS_WORKSTATION": "workstation",
    "MAC": "workstation",
    "LINUX_WORKSTATION": "workstation",
    "WINDOWS_SERVER": "server",
    "LINUX_SERVER": "server",
    "MAC_SERVER": "server",
    "VMWARE_VM_HOST": "vm_host",
    "HYPERV_VMM_HOST": "vm_host",
    "VMWARE_VM_GUEST": "vm_guest",
    "HYPERV_VMM_GUEST": "vm_guest",
}


@dlt.source(name="ninjaone", max_table_nesting=1, schema_contract=SCHEMA_CONTRACT)
def ninjaone_source(
    base_url: str = dlt.config.value,
    client_id: str = dlt.secrets.value,
    client_secret: str = dlt.secrets.value,
    resources: tuple[str, ...] = tuple(NINJA_RESOURCES),
    deletions: Deletions | None = None,
    rejected: Quarantine | None = None,
    known_types: Mapping[str, Mapping[str, str]] | None = None,
) -> Any:
    auth = NinjaOneAuth(
        base_url.rstrip("/") + "/" + NINJA_TOKEN_PATH, client_id, client_secret, NINJA_SCOPE
    )
    collector = deletions if deletions is not None else Deletions()
    bad = rejected if rejected is not None else Quarantine()
    known = known_types or {}

    def client() -> SourceClient:
        return SourceClient(
            LABEL, base_url, ninjaone_message, auth=auth, headers={"Accept": "application/json"}
        )

    return [_resource(name, client, collector, bad, known.get(name)) for name in resources]


def _resource(
    name: str,
    client: Any,
    deletions: Deletions,
    rejected: Quarantine,
    known_types: Mapping[str, str] | None,
) -> Any:
    rules = RULES[name]

    @dlt.resource(
        name=name,
        primary_key="id",
        write_disposition="merge",
        columns={
            **rules.columns(),
            "tags": {"data_type": "json"},
            "fields": {"data_type": "json"},
        },
        parallelized=True,
    )
    def records() -> Iterator[Any]:
        seen: set[int] = set()
        for page in client().paginate(
            NINJA_RESOURCES[name], paginator=AfterIdPaginator(NINJA_PAGE_SIZE)
        ):
            good = split(page, rules, "ninjaone", name, rejected, known_types)
            seen.update(r["id"] for r in good)
            if good:
                yield good
        deletions.swept(name, seen)  # the full read is the sweep

    return records


# --- the daily snapshot into the inventory tables (qbr.inventory: the one writer) ---------

#: the day's devices from the raw tables, as staged rows of the inventory writer
SNAPSHOT_ROWS = """
insert into inventory_stage (
    snapshot_date, vendor_device_key, vendor_site_key, site_name, organization_name,
    display_name, hostname, location_name, node_class, device_type, billing_status,
    os_name, device_status, last_online
)
select
    %(day)s,
    d.id::text,
    d.organization_id::text,
    o.name,
    o.name,
    d.display_name,
    d.system_name,
    l.name,
    d.node_class,
    case {device_type_cases} end,
    case when lower(coalesce(l.name, '') || ' ' || coalesce(d.display_name, '') || ' '
                    || coalesce(d.system_name, '')) like '%%spare%%'
         then 'spare' else 'billable' end,
    d.os__name,
    case when d.offline then 'offline' else 'online' end,
    to_timestamp(d.last_contact)
from {raw}.devices as d
left join {raw}.organizations as o on o.id = d.organization_id and o._deleted_at is null
left join {raw}.locations as l on l.id = d.location_id and l._deleted_at is null
where d._deleted_at is null and not (d.node_class = any(%(skipped)s))
"""


def write_snapshot(url: str, schema: str, raw_schema: str, day: date) -> dict[str, Any]:
    """Today's NinjaOne rows into the inventory tables; one transaction."""
    cases = sql.SQL(" ").join(
        sql.SQL("when d.node_class = {} then {}").format(sql.Literal(k), sql.Literal(v))
        for k, v in DEVICE_TYPES.items()
    )
    with psycopg.connect(url) as conn, conn.transaction():
        vendor = inventory.ensure_tables(conn, schema, vendors=(NINJA_VENDOR,))[NINJA_VENDOR]
        with conn.cursor() as cur:
            inventory.stage(cur)
            cur.execute(
                sql.SQL(SNAPSHOT_ROWS).format(
                    raw=sql.Identifier(raw_schema), device_type_cases=cases
                ),
                {"day": day, "skipped": list(NINJA_SKIPPED_NODE_CLASSES)},
            )
            inventory.merge_stage(cur, schema, vendor, day, day)
        rows = conn.execute(
            sql.SQL(
                "select count(*) from {s}.device_snapshot where vendor_id = %s and snapshot_date = %s"
            ).format(s=sql.Identifier(schema)),
            (vendor, day),
        ).fetchone()[0]
    return {"snapshot_date": day.isoformat(), "snapshot_rows": rows, "inventory_schema": schema}


def run(
    settings: Any,
    config: Mapping[str, Any] | None,
    *,
    full: bool = False,
    since: Any = None,
    snapshot_date: date | None = None,
    **options: Any,
) -> Any:
    """The `ninjaone` refresh step: raw tables, then today's snapshot.
    (`full` and `since` change nothing: every run reads everything.)"""
    kwargs = dict(config or {})
    day = snapshot_date or datetime.now(ZoneInfo(settings.timezone)).date()

    def build(context: Any) -> Any:
        return ninjaone_source(
            **kwargs,
            deletions=context.deletions,
            rejected=context.rejected,
            known_types=context.known_types,
            **options,
        )

    def snapshot(pipeline: Any) -> dict[str, Any]:
        return write_snapshot(settings.url, settings.inventory_schema, DATASETS["ninjaone"], day)

    return run_source(settings, "ninjaone", build, label=LABEL, after_load=snapshot)
