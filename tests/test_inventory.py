"""The inventory writer: what it writes equals what the MSP streams, and re-runs
do not duplicate."""

from __future__ import annotations

import json
import secrets
from datetime import date, timedelta

import psycopg
import pytest
from psycopg import sql

from bench import inventory as bench_inventory
from qbr import inventory
from qbr.inventory import write_inventory
from sandbox import ground_truth as gt
from sandbox.msp import generate, generate_inventory

VENDORS = ("NinjaRMM", "ThreatLocker")


@pytest.fixture(scope="module")
def msp():
    return generate("small", seed=5, today=date(2026, 11, 23))


def _count(msp, vendor, days=None):
    first, last = days or (None, None)
    return sum(1 for _ in msp.iter_device_snapshots(vendor, start=first, end=last))


def _table_rows(db_url: str, schema: str) -> dict[str, int]:
    query = sql.SQL(
        "select v.name, count(*) from {s}.device_snapshot as ds "
        "inner join {s}.vendor as v on v.id = ds.vendor_id group by v.name"
    ).format(s=sql.Identifier(schema))
    with psycopg.connect(db_url) as conn:
        return dict(conn.execute(query).fetchall())


def test_full_history_then_rewrite_of_some_days(db_url, msp):
    schema = f"inventory_{secrets.token_hex(3)}"
    counts = write_inventory(db_url, schema, msp)
    expected = {v: _count(msp, v) for v in VENDORS}
    assert counts["written"] == expected
    assert _table_rows(db_url, schema) == expected
    assert counts["tables"]["device_snapshot"] == sum(expected.values())
    assert counts["tables"]["vendor"] == 4

    days = (msp.today - timedelta(days=10), msp.today)
    again = write_inventory(db_url, schema, msp, days=days)
    assert again["written"] == {v: _count(msp, v, days) for v in VENDORS}
    assert _table_rows(db_url, schema) == expected
    assert again["tables"] == counts["tables"]

    with psycopg.connect(db_url) as conn:
        s = sql.Identifier(schema)
        dupes = conn.execute(
            sql.SQL(
                "select count(*) from (select 1 from {s}.device_snapshot group by vendor_id, "
                "device_identity_id, snapshot_date having count(*) > 1) as d"
            ).format(s=s)
        ).fetchone()
        assert dupes == (0,)
        missing = msp.events["missing_snapshot_day"]["day"]
        on_missing = conn.execute(sql.SQL(
            "select count(*) from {s}.device_snapshot where snapshot_date = %s").format(s=s),
            (missing,)).fetchone()  # fmt: skip
        assert on_missing == (0,)
        spare = conn.execute(
            sql.SQL(
                "select count(*) from {s}.device_snapshot as ds inner join {s}.billing_status as b "
                "on b.id = ds.billing_status_id where b.code = 'spare'"
            ).format(s=s)
        ).fetchone()[0]
        assert spare > 0
        # the latest snapshot of a month, counted in SQL, agrees with the ground truth
        month = msp.end_month - timedelta(days=1)
        latest = gt.latest_snapshot_date(msp, month.replace(day=1))
        rows = conn.execute(sql.SQL(
            "select ds.hostname, ds.display_name, ds.location_name, ds.organization_name, "
            "ds.node_class, di.vendor_device_key from {s}.device_snapshot as ds "
            "inner join {s}.device_identity as di on di.id = ds.device_identity_id "
            "inner join {s}.vendor as v on v.id = ds.vendor_id "
            "where v.name = 'NinjaRMM' and ds.snapshot_date = %s").format(s=s),
            (latest,)).fetchall()  # fmt: skip
    keys = ("hostname", "display_name", "location_name", "organization_name", "node_class",
            "vendor_device_key")  # fmt: skip
    counted = gt.device_counts([dict(zip(keys, r, strict=True)) for r in rows])
    values = gt.monthly_inputs(msp, f"{month:%Y-%m}")
    assert counted == (values["endpoints_managed"], values["seats_managed"])


def test_writing_a_range_twice_does_not_duplicate(db_url, msp):
    schema = f"inventory_{secrets.token_hex(3)}"
    days = (msp.today - timedelta(days=5), msp.today)
    first = write_inventory(db_url, schema, msp, days=days)
    second = write_inventory(db_url, schema, msp, days=days)
    expected = {v: _count(msp, v, days) for v in VENDORS}
    assert first["written"] == second["written"] == expected
    assert _table_rows(db_url, schema) == expected
    assert first["tables"] == second["tables"]
    with psycopg.connect(db_url) as conn:
        first_seen = conn.execute(sql.SQL(
            "select min(first_seen_date), max(last_seen_date) from {s}.device_identity"
        ).format(s=sql.Identifier(schema))).fetchone()  # fmt: skip
    assert first_seen == days


# -- one new day from the devices alone (issue 15: its cost is a day's) ------------------

SNAPSHOT_ROW = sql.SQL(
    "select v.name, di.vendor_device_key, ds.snapshot_date, si.vendor_site_key, si.name, "
    "dt.code, bs.code, ds.hostname, ds.os_name, ds.organization_name, ds.display_name, "
    "ds.location_name, ds.device_status, ds.node_class, ds.last_online "
    "from {s}.device_snapshot as ds "
    "inner join {s}.vendor as v on v.id = ds.vendor_id "
    "inner join {s}.device_identity as di on di.id = ds.device_identity_id "
    "left join {s}.site as si on si.id = ds.site_id "
    "left join {s}.device_type as dt on dt.id = ds.device_type_id "
    "left join {s}.billing_status as bs on bs.id = ds.billing_status_id "
    "where ds.snapshot_date between %s and %s"
)


def _rows(db_url: str, schema: str, first: date, last: date) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        query = SNAPSHOT_ROW.format(s=sql.Identifier(schema))
        return sorted(conn.execute(query, (first, last)).fetchall(), key=repr)


def test_device_inventory_streams_exactly_the_whole_msps_snapshots():
    """The devices-only MSP, before and after its clock moves, against the whole MSP
    (tickets, agreements, books and all) moved the same way."""
    today = date(2026, 11, 23)
    whole, alone = generate("small", seed=5, today=today), generate_inventory("small", 5, today)
    for days in (0, 2):
        whole.advance(days, count_changes=False)
        alone.advance(days)
        assert alone.today == whole.today == today + timedelta(days=days)
        for vendor in VENDORS:
            assert alone.snapshot_dates(vendor) == whole.snapshot_dates(vendor)
            expected = list(whole.iter_device_snapshots(vendor))
            assert list(alone.iter_device_snapshots(vendor)) == expected
            assert sum(r["snapshot_date"] == whole.today for r in expected) > 50
    assert not whole.rendered and not hasattr(alone, "cw_tickets")


def test_bench_writer_of_an_advanced_day_writes_what_the_full_history_writes(db_url, capsys):
    """`python -m bench.inventory ... --advance 1` (devices only, one day) against the
    whole small MSP advanced a day and all its history written: that day's rows agree."""
    today = date(2026, 11, 23)
    whole = generate("small", seed=7, today=today)
    whole.advance(1, count_changes=False)
    day = whole.today
    full_schema, day_schema = (f"inventory_{secrets.token_hex(3)}" for _ in range(2))
    write_inventory(db_url, full_schema, whole)

    args = [db_url, day_schema, "--preset", "small", "--seed", "7", "--today", str(today)]
    assert bench_inventory.main([*args, "--advance", "1"]) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]

    expected = _rows(db_url, full_schema, day, day)
    assert (
        written
        == len(expected)
        == sum(1 for v in VENDORS for _ in whole.iter_device_snapshots(v, start=day, end=day))
    )
    assert _rows(db_url, day_schema, date.min, date.max) == expected
    columns = ("vendor", "vendor_device_key", "snapshot_date", "vendor_site_key", "site_name",
               "device_type", "billing_status", "hostname", "os_name", "organization_name",
               "display_name", "location_name", "device_status", "node_class", "last_online")  # fmt: skip
    streamed = [tuple(row[c] for c in columns)
                for v in VENDORS for row in whole.iter_device_snapshots(v, start=day, end=day)]  # fmt: skip
    assert expected == sorted(streamed, key=repr)  # every value as the generator made it


INDEXES = sql.SQL(
    "select c.relname, replace(pg_get_indexdef(c.oid), %s, 'S'), c.oid, "
    "coalesce(pg_get_constraintdef(k.oid), '') from pg_index as i "
    "inner join pg_class as c on c.oid = i.indexrelid "
    "left join pg_constraint as k on k.conindid = i.indexrelid "
    "where i.indrelid = {t}::regclass order by 1"
)


def _indexes(db_url: str, schema: str) -> dict[str, tuple]:
    """device_snapshot's indexes: name -> (definition, oid, constraint definition)."""
    table = sql.Identifier(schema, "device_snapshot").as_string()
    with psycopg.connect(db_url) as conn:
        found = conn.execute(INDEXES.format(t=table), (f"{schema}.",)).fetchall()
    return {name: (definition, oid, constraint) for name, definition, oid, constraint in found}


def test_a_bulk_load_writes_the_same_rows_and_rebuilds_the_same_indexes(db_url, msp, monkeypatch):
    """A write of at least BULK_ROWS rows per vendor (and half the table) drops the
    snapshot indexes but the key and builds them again at the end: same rows, same
    indexes and constraints as the row-by-row write; a small write keeps them."""
    row_by_row, bulk = (f"inventory_{secrets.token_hex(3)}" for _ in range(2))
    write_inventory(db_url, row_by_row, msp)
    kept = _indexes(db_url, row_by_row)
    write_inventory(db_url, row_by_row, msp, days=(msp.today, msp.today))
    assert _indexes(db_url, row_by_row) == kept  # not rebuilt (same oids)

    monkeypatch.setattr(inventory, "BULK_ROWS", 1_000)
    write_inventory(db_url, bulk, msp)
    first = _indexes(db_url, bulk)
    write_inventory(db_url, bulk, msp)  # all of history again: half the table or more
    again = _indexes(db_url, bulk)
    assert len(kept) == 3 and "device_snapshot_pkey" in kept
    assert sum(bool(k[2]) for k in kept.values()) == 2  # the key and the unique constraint
    for indexes in (first, again):
        assert {n: (d, c) for n, (d, _, c) in indexes.items()} == {
            n: (d, c) for n, (d, _, c) in kept.items()
        }
    rebuilt = {n for n in again if again[n][1] != first[n][1]}
    assert rebuilt == set(kept) - {"device_snapshot_pkey"}
    everything = (date.min, date.max)
    assert _rows(db_url, bulk, *everything) == _rows(db_url, row_by_row, *everything)
    assert _table_rows(db_url, bulk) == {v: _count(msp, v) for v in VENDORS}


def test_a_site_takes_the_name_of_its_latest_day(db_url):
    """The merge keeps each site's name from its latest staged day, whatever the
    order the rows arrive in (hand-made rows: a site renamed between two days)."""
    schema = f"inventory_{secrets.token_hex(3)}"
    days = (date(2026, 3, 1), date(2026, 3, 2))
    base = dict.fromkeys(inventory.STAGE_COLUMNS)
    rows = [
        {**base, "snapshot_date": day, "vendor_device_key": device, "vendor_site_key": site,
         "site_name": name, "device_type": "workstation", "billing_status": "billable"}
        for day, device, site, name in (
            (days[1], "d1", "s1", "New name"), (days[0], "d1", "s1", "Old name"),
            (days[0], "d2", "s1", "Old name"), (days[0], "d3", "s2", "Other"),
        )
    ]  # fmt: skip
    with psycopg.connect(db_url) as conn:
        vendor = inventory.ensure_tables(conn, schema)["NinjaRMM"]
        with conn.transaction(), conn.cursor() as cur:
            inventory.stage(cur)
            assert inventory.copy_rows(cur, rows) == 4
            inventory.merge_stage(cur, schema, vendor, *days)
        s = sql.Identifier(schema)
        sites = conn.execute(sql.SQL("select vendor_site_key, name from {s}.site order by 1")
                             .format(s=s)).fetchall()  # fmt: skip
        seen = conn.execute(sql.SQL("select vendor_device_key, first_seen_date, last_seen_date "
                                    "from {s}.device_identity order by 1").format(s=s)).fetchall()  # fmt: skip
    assert sites == [("s1", "New name"), ("s2", "Other")]
    assert seen == [("d1", *days), ("d2", days[0], days[0]), ("d3", days[0], days[0])]
