"""Write the synthetic MSP's device snapshots into inventory tables.

A fresh install has no inventory database of its own, so the demo (and the
tests) fill the same tables the MSP's NinjaOne and ThreatLocker collectors
keep (SOURCES.md: vendor, site, device_identity, device_type,
billing_status, device_snapshot). Rows are streamed from
`msp.iter_device_snapshots` through COPY into a temporary table and then
merged with set-based SQL, so memory stays flat however many days are
written. Re-running for the same days replaces those days' rows instead of
duplicating them.

device_snapshot carries no foreign-key constraints (its ids are resolved by
the merge itself): per-row FK triggers made a full-history write about twice
as slow, and the table is by far the largest one written.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg import sql

VENDORS = ("NinjaRMM", "ThreatLocker", "ConnectWise", "QuickBooks")
SNAPSHOT_VENDORS = ("NinjaRMM", "ThreatLocker")
DEVICE_TYPES = ("workstation", "server", "vm_host", "vm_guest")
BILLING_STATUSES = ("billable", "spare")
STAGE_COLUMNS = (
    "snapshot_date",
    "vendor_device_key",
    "vendor_site_key",
    "site_name",
    "organization_name",
    "display_name",
    "hostname",
    "location_name",
    "node_class",
    "device_type",
    "billing_status",
    "os_name",
    "device_status",
    "last_online",
)

DDL = """
create schema if not exists {s};
create table if not exists {s}.vendor (
    id serial primary key,
    name text not null unique
);
create table if not exists {s}.site (
    id serial primary key,
    vendor_id integer not null references {s}.vendor (id),
    vendor_site_key text not null,
    name text,
    unique (vendor_id, vendor_site_key)
);
create table if not exists {s}.device_identity (
    id bigserial primary key,
    vendor_id integer not null references {s}.vendor (id),
    vendor_device_key text not null,
    first_seen_date date not null,
    last_seen_date date not null,
    unique (vendor_id, vendor_device_key)
);
create table if not exists {s}.device_type (
    id serial primary key,
    code text not null unique
);
create table if not exists {s}.billing_status (
    id serial primary key,
    code text not null unique
);
create table if not exists {s}.device_snapshot (
    id bigserial primary key,
    snapshot_date date not null,
    vendor_id integer not null,
    device_identity_id bigint not null,
    site_id integer,
    device_type_id integer,
    billing_status_id integer,
    hostname text,
    os_name text,
    organization_name text,
    display_name text,
    location_name text,
    device_status text,
    node_class text,
    last_online timestamptz,
    unique (vendor_id, device_identity_id, snapshot_date)
);
create index if not exists device_snapshot_date_vendor_idx
    on {s}.device_snapshot (snapshot_date, vendor_id);
"""

STAGE = """
create temporary table if not exists inventory_stage (
    snapshot_date date, vendor_device_key text, vendor_site_key text, site_name text,
    organization_name text, display_name text, hostname text, location_name text,
    node_class text, device_type text, billing_status text, os_name text,
    device_status text, last_online timestamptz
) on commit delete rows
"""

MERGE = [
    """
insert into {s}.site (vendor_id, vendor_site_key, name)
select distinct on (vendor_site_key) %(vendor)s, vendor_site_key, site_name
from inventory_stage
order by vendor_site_key, snapshot_date desc
on conflict (vendor_id, vendor_site_key) do update set name = excluded.name
""",
    """
insert into {s}.device_identity (vendor_id, vendor_device_key, first_seen_date, last_seen_date)
select %(vendor)s, vendor_device_key, min(snapshot_date), max(snapshot_date)
from inventory_stage
group by vendor_device_key
on conflict (vendor_id, vendor_device_key) do update set
    first_seen_date = least({s}.device_identity.first_seen_date, excluded.first_seen_date),
    last_seen_date = greatest({s}.device_identity.last_seen_date, excluded.last_seen_date)
""",
    """
delete from {s}.device_snapshot
where vendor_id = %(vendor)s and snapshot_date between %(first)s and %(last)s
""",
    """
insert into {s}.device_snapshot (
    snapshot_date, vendor_id, device_identity_id, site_id, device_type_id, billing_status_id,
    hostname, os_name, organization_name, display_name, location_name, device_status,
    node_class, last_online
)
select
    st.snapshot_date, %(vendor)s, di.id, si.id, dt.id, bs.id,
    st.hostname, st.os_name, st.organization_name, st.display_name, st.location_name,
    st.device_status, st.node_class, st.last_online
from inventory_stage as st
inner join {s}.device_identity as di
    on di.vendor_id = %(vendor)s and di.vendor_device_key = st.vendor_device_key
left join {s}.site as si
    on si.vendor_id = %(vendor)s and si.vendor_site_key = st.vendor_site_key
left join {s}.device_type as dt on dt.code = st.device_type
left join {s}.billing_status as bs on bs.code = st.billing_status
""",
]


def _ensure_tables(conn: psycopg.Connection, schema: sql.Identifier) -> dict[str, int]:
    conn.execute(sql.SQL(DDL).format(s=schema))
    for table, codes, column in (("vendor", VENDORS, "name"),
                                 ("device_type", DEVICE_TYPES, "code"),
                                 ("billing_status", BILLING_STATUSES, "code")):  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "insert into {s}.{t} ({c}) values (%s) on conflict ({c}) do nothing"
                ).format(s=schema, t=sql.Identifier(table), c=sql.Identifier(column)),
                [(code,) for code in codes],
            )
    rows = conn.execute(sql.SQL("select name, id from {s}.vendor").format(s=schema)).fetchall()
    return dict(rows)


def _write_vendor(conn: psycopg.Connection, schema: sql.Identifier, vendor_id: int, msp: Any,
                  vendor: str, first: date, last: date) -> int:  # fmt: skip
    """Stage one vendor's rows for [first, last] with COPY, then merge them."""
    rows = 0
    with conn.cursor() as cur:
        cur.execute(STAGE)
        copy_sql = sql.SQL("copy inventory_stage ({}) from stdin").format(
            sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))
        )
        with cur.copy(copy_sql) as copy:
            for row in msp.iter_device_snapshots(vendor, start=first, end=last):
                copy.write_row([row[c] for c in STAGE_COLUMNS])
                rows += 1
        params = {"vendor": vendor_id, "first": first, "last": last}
        for statement in MERGE:
            cur.execute(sql.SQL(statement).format(s=schema), params)
    return rows


def write_inventory(conn_url: str, schema: str, msp: Any, *,
                    days: tuple[date, date] | None = None) -> dict[str, Any]:  # fmt: skip
    """Create the inventory tables in `schema` (if missing) and write the MSP's
    NinjaRMM and ThreatLocker snapshots for `days` (inclusive; default all of
    history). Returns the rows written per vendor and the table sizes."""
    first, last = days if days else (msp.start_month, msp.today)
    ident = sql.Identifier(schema)
    written: dict[str, int] = {}
    with psycopg.connect(conn_url) as conn:
        with conn.transaction():
            vendor_ids = _ensure_tables(conn, ident)
        for vendor in SNAPSHOT_VENDORS:
            with conn.transaction():
                written[vendor] = _write_vendor(conn, ident, vendor_ids[vendor], msp, vendor,
                                                first, last)  # fmt: skip
        sizes = {}
        for table in ("vendor", "site", "device_identity", "device_type", "billing_status",
                      "device_snapshot"):  # fmt: skip
            query = sql.SQL("select count(*) from {s}.{t}").format(s=ident, t=sql.Identifier(table))
            sizes[table] = conn.execute(query).fetchone()[0]
    return {"written": written, "device_snapshot_rows_written": sum(written.values()),
            "tables": sizes}  # fmt: skip
