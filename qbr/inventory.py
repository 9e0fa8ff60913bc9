"""The inventory tables and their one writer: DDL, a staging table, the merge.

The MSP's collectors keep daily device snapshots in these tables
(shared/SOURCES.md: vendor, site, device_identity, device_type, billing_status,
device_snapshot); the warehouse reads them. Two writers fill them: the
NinjaOne pipeline (today's devices from raw_ninjaone, dlt_pipelines.ninjaone)
and the demo, chaos suite, bench and tests (a synthetic MSP's history, from
`write_inventory` below). Both stage rows
in `inventory_stage` (COPY or INSERT ... SELECT) and call `merge_stage`, so
the rules (identity first/last seen, one row per device and day, re-writing a
day replaces it) are written once, here.

A synthetic MSP's day needs only its devices: `sandbox.msp.generate_inventory`
plans them alone (the whole MSP took 0.8 GB and 19 s at `large` to write a day).

device_snapshot carries no foreign-key constraints (its ids are resolved by the
merge itself): per-row FK triggers made a full-history write about twice as
slow, and the table is by far the largest one written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql

VENDORS = ("NinjaRMM", "ThreatLocker", "ConnectWise", "QuickBooks")
#: The vendors whose device snapshots a synthetic MSP streams (sandbox.msp).
SNAPSHOT_VENDORS = ("NinjaRMM", "ThreatLocker")
DEVICE_TYPES = ("workstation", "server", "vm_host", "vm_guest")
BILLING_STATUSES = ("billable", "spare")
TABLES = ("vendor", "site", "device_identity", "device_type", "billing_status", "device_snapshot")
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

#: One vendor's rows for a range of days, before the merge (emptied at commit).
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
select distinct on (st.vendor_site_key) %(vendor)s, st.vendor_site_key, st.site_name
from inventory_stage as st
inner join (
    select vendor_site_key, max(snapshot_date) as snapshot_date
    from inventory_stage
    group by vendor_site_key
) as latest
    on latest.vendor_site_key = st.vendor_site_key and latest.snapshot_date = st.snapshot_date
order by st.vendor_site_key
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


def ensure_tables(
    conn: psycopg.Connection, schema: str, vendors: Iterable[str] = VENDORS
) -> dict[str, int]:
    """Create the tables (if missing) and their lookup rows; returns {vendor: id}."""
    s = sql.Identifier(schema)
    conn.execute(sql.SQL(DDL).format(s=s))
    for table, codes, column in (("vendor", tuple(vendors), "name"),
                                 ("device_type", DEVICE_TYPES, "code"),
                                 ("billing_status", BILLING_STATUSES, "code")):  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "insert into {s}.{t} ({c}) values (%s) on conflict ({c}) do nothing"
                ).format(s=s, t=sql.Identifier(table), c=sql.Identifier(column)),
                [(code,) for code in codes],
            )
    return dict(conn.execute(sql.SQL("select name, id from {s}.vendor").format(s=s)).fetchall())


def stage(cur: psycopg.Cursor) -> None:
    """The (empty) staging table of this transaction."""
    cur.execute(STAGE)


#: STAGE_COLUMNS' types, for the binary COPY
STAGE_TYPES = ("date", *["text"] * (len(STAGE_COLUMNS) - 2), "timestamptz")


def copy_rows(cur: psycopg.Cursor, rows: Iterable[Mapping[str, Any]]) -> int:
    """Stream rows (dicts with STAGE_COLUMNS: a date, str or None, an aware datetime or
    None) into the staging table; returns how many. Binary COPY: the server parses no
    text (about half the COPY's own cost)."""
    count = 0
    values = itemgetter(*STAGE_COLUMNS)
    copy_sql = sql.SQL("copy inventory_stage ({}) from stdin (format binary)").format(
        sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))
    )
    with cur.copy(copy_sql) as copy:
        copy.set_types(STAGE_TYPES)
        write = copy.write_row
        for row in rows:
            write(values(row))
            count += 1
    return count


def merge_stage(cur: psycopg.Cursor, schema: str, vendor_id: int, first: date, last: date) -> None:
    """The staged rows of one vendor become its snapshots for [first, last] (replacing
    what those days held), with their sites and device identities."""
    params = {"vendor": vendor_id, "first": first, "last": last}
    for statement in MERGE:
        cur.execute(sql.SQL(statement).format(s=sql.Identifier(schema)), params)


#: A write this large (and at least half the table) loads without the snapshot indexes.
BULK_ROWS = 100_000


def _bulk(cur: psycopg.Cursor, schema: str, staged: int) -> bool:
    """Whether `staged` rows are a bulk load: many, and at least half of what
    device_snapshot holds (PostgreSQL's estimate; its size when never analyzed)."""
    if staged < BULK_ROWS:
        return False
    estimate = cur.execute(
        "select case when c.reltuples >= 0 then c.reltuples"
        " else pg_relation_size(c.oid) / 200 end"
        " from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = %s and c.relname = 'device_snapshot'",
        (schema,),
    ).fetchone()[0]
    return staged * 2 >= estimate


def _drop_snapshot_indexes(cur: psycopg.Cursor, schema: str) -> list[sql.Composable]:
    """Drop device_snapshot's indexes but its primary key (a bulk insert then builds
    each once, sorted, instead of updating it row by row: a full history loads
    about a third faster); returns the statements that restore them. The table is
    locked until the transaction ends."""
    table = sql.Identifier(schema, "device_snapshot")
    found = cur.execute(
        """
        select ci.relname, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)
        from pg_index as i
        inner join pg_class as ci on ci.oid = i.indexrelid
        inner join pg_class as ct on ct.oid = i.indrelid
        inner join pg_namespace as n on n.oid = ct.relnamespace
        left join pg_constraint as c on c.conindid = i.indexrelid and c.conrelid = i.indrelid
        where n.nspname = %s and ct.relname = 'device_snapshot' and not i.indisprimary
        order by ci.relname
        """,
        (schema,),
    ).fetchall()
    restore: list[sql.Composable] = []
    for index, index_def, constraint, constraint_def in found:
        if constraint:
            name = sql.Identifier(constraint)
            cur.execute(sql.SQL("alter table {} drop constraint {}").format(table, name))
            restore.append(
                sql.SQL("alter table {} add constraint {} {}").format(
                    table, name, sql.SQL(constraint_def)
                )
            )
        else:
            cur.execute(sql.SQL("drop index {}").format(sql.Identifier(schema, index)))
            restore.append(sql.SQL(index_def))
    return restore


def _restore_indexes(cur: psycopg.Cursor, restore: list[sql.Composable]) -> None:
    cur.execute("set local maintenance_work_mem = '256MB'")
    for statement in restore:
        cur.execute(statement)


def table_sizes(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    s = sql.Identifier(schema)
    return {
        table: conn.execute(
            sql.SQL("select count(*) from {s}.{t}").format(s=s, t=sql.Identifier(table))
        ).fetchone()[0]
        for table in TABLES
    }


def write_inventory(
    conn_url: str,
    schema: str,
    msp: Any,
    *,
    days: tuple[date, date] | None = None,
    sizes: bool = True,
) -> dict[str, Any]:
    """Create the tables in `schema` (if missing) and write a synthetic MSP's NinjaRMM and
    ThreatLocker snapshots (`msp.iter_device_snapshots(vendor, start=, end=)`) for
    `days` (inclusive; default all of its history). `msp` is a `sandbox.msp.MSP` or,
    cheaper, a `sandbox.msp.DeviceInventory`. Returns the rows written per vendor and,
    with `sizes`, the table sizes (counting every row: seconds on a large history).
    Re-running for the same days replaces their rows. Both vendors are written in
    one transaction; a bulk write (at least BULK_ROWS rows of a vendor and half the
    table, e.g. all of history) drops device_snapshot's indexes but its key first and
    builds them again before the commit (readers of the table wait for it)."""
    first, last = days if days else (msp.start_month, msp.today)
    written: dict[str, int] = {}
    with psycopg.connect(conn_url) as conn:
        with conn.transaction():
            vendor_ids = ensure_tables(conn, schema)
        with conn.transaction(), conn.cursor() as cur:  # both vendors, or neither
            stage(cur)
            dropped: list[sql.Composable] | None = None
            for vendor in SNAPSHOT_VENDORS:
                cur.execute("truncate inventory_stage")
                rows = msp.iter_device_snapshots(vendor, start=first, end=last)
                written[vendor] = copy_rows(cur, rows)
                if dropped is None and _bulk(cur, schema, written[vendor]):
                    dropped = _drop_snapshot_indexes(cur, schema)
                merge_stage(cur, schema, vendor_ids[vendor], first, last)
            if dropped:
                _restore_indexes(cur, dropped)
        tables = table_sizes(conn, schema) if sizes else None
    return {
        "written": written,
        "device_snapshot_rows_written": sum(written.values()),
        "tables": tables,
    }
