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

LABEL = "NinjaOne"
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


# --- the daily snapshot into the inventory tables ------------------------------------

DDL = """
create schema if not exists {s};
create table if not exists {s}.vendor (
    id serial primary key, name text not null unique);
create table if not exists {s}.site (
    id serial primary key, vendor_id integer not null references {s}.vendor (id),
    vendor_site_key text not null, name text, unique (vendor_id, vendor_site_key));
create table if not exists {s}.device_identity (
    id bigserial primary key, vendor_id integer not null references {s}.vendor (id),
    vendor_device_key text not null, first_seen_date date not null,
    last_seen_date date not null, unique (vendor_id, vendor_device_key));
create table if not exists {s}.device_type (id serial primary key, code text not null unique);
create table if not exists {s}.billing_status (
    id serial primary key, code text not null unique);
create table if not exists {s}.device_snapshot (
    id bigserial primary key, snapshot_date date not null, vendor_id integer not null,
    device_identity_id bigint not null, site_id integer, device_type_id integer,
    billing_status_id integer, hostname text, os_name text, organization_name text,
    display_name text, location_name text, device_status text, node_class text,
    last_online timestamptz, unique (vendor_id, device_identity_id, snapshot_date));
"""

#: the day's devices from the raw tables, shaped like the collector's rows
SNAPSHOT_ROWS = """
create temporary table ninja_snapshot on commit drop as
select
    d.id::text as vendor_device_key,
    d.organization_id::text as vendor_site_key,
    o.name as organization_name,
    d.display_name,
    d.system_name as hostname,
    l.name as location_name,
    d.node_class,
    case {device_type_cases} end as device_type,
    case when lower(coalesce(l.name, '') || ' ' || coalesce(d.display_name, '') || ' '
                    || coalesce(d.system_name, '')) like '%%spare%%'
         then 'spare' else 'billable' end as billing_status,
    d.os__name as os_name,
    case when d.offline then 'offline' else 'online' end as device_status,
    to_timestamp(d.last_contact) as last_online
from {raw}.devices as d
left join {raw}.organizations as o on o.id = d.organization_id and o._deleted_at is null
left join {raw}.locations as l on l.id = d.location_id and l._deleted_at is null
where d._deleted_at is null and not (d.node_class = any(%(skipped)s))
"""

MERGE = [
    """insert into {s}.site (vendor_id, vendor_site_key, name)
       select distinct on (vendor_site_key) %(vendor)s, vendor_site_key, organization_name
       from ninja_snapshot order by vendor_site_key
       on conflict (vendor_id, vendor_site_key) do update set name = excluded.name""",
    """insert into {s}.device_identity (vendor_id, vendor_device_key, first_seen_date,
                                         last_seen_date)
       select %(vendor)s, vendor_device_key, %(day)s, %(day)s from ninja_snapshot
       on conflict (vendor_id, vendor_device_key) do update set
           first_seen_date = least({s}.device_identity.first_seen_date, excluded.first_seen_date),
           last_seen_date = greatest({s}.device_identity.last_seen_date, excluded.last_seen_date)""",
    """delete from {s}.device_snapshot where vendor_id = %(vendor)s and snapshot_date = %(day)s""",
    """insert into {s}.device_snapshot (
           snapshot_date, vendor_id, device_identity_id, site_id, device_type_id,
           billing_status_id, hostname, os_name, organization_name, display_name,
           location_name, device_status, node_class, last_online)
       select %(day)s, %(vendor)s, di.id, si.id, dt.id, bs.id, st.hostname, st.os_name,
              st.organization_name, st.display_name, st.location_name, st.device_status,
              st.node_class, st.last_online
       from ninja_snapshot as st
       join {s}.device_identity as di
           on di.vendor_id = %(vendor)s and di.vendor_device_key = st.vendor_device_key
       left join {s}.site as si
           on si.vendor_id = %(vendor)s and si.vendor_site_key = st.vendor_site_key
       left join {s}.device_type as dt on dt.code = st.device_type
       left join {s}.billing_status as bs on bs.code = st.billing_status""",
]


def write_snapshot(url: str, schema: str, raw_schema: str, day: date) -> dict[str, Any]:
    """Today's NinjaOne rows into the inventory tables; one transaction."""
    s = sql.Identifier(schema)
    cases = sql.SQL(" ").join(
        sql.SQL("when d.node_class = {} then {}").format(sql.Literal(k), sql.Literal(v))
        for k, v in DEVICE_TYPES.items()
    )
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(sql.SQL(DDL).format(s=s))
        for table, column, codes in (
            ("vendor", "name", [NINJA_VENDOR]),
            ("device_type", "code", sorted(set(DEVICE_TYPES.values()))),
            ("billing_status", "code", ["billable", "spare"]),
        ):
            for code in codes:
                conn.execute(
                    sql.SQL(
                        "insert into {s}.{t} ({c}) values (%s) on conflict ({c}) do nothing"
                    ).format(s=s, t=sql.Identifier(table), c=sql.Identifier(column)),
                    (code,),
                )
        vendor = conn.execute(
            sql.SQL("select id from {s}.vendor where name = %s").format(s=s), (NINJA_VENDOR,)
        ).fetchone()[0]
        conn.execute(
            sql.SQL(SNAPSHOT_ROWS).format(raw=sql.Identifier(raw_schema), device_type_cases=cases),
            {"skipped": list(NINJA_SKIPPED_NODE_CLASSES)},
        )
        params = {"vendor": vendor, "day": day}
        for statement in MERGE:
            conn.execute(sql.SQL(statement).format(s=s), params)
        rows = conn.execute(
            sql.SQL(
                "select count(*) from {s}.device_snapshot where vendor_id = %s and snapshot_date = %s"
            ).format(s=s),
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
