"""The inventory writer: what it writes equals what the MSP streams, and re-runs
do not duplicate."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import psycopg
import pytest
from psycopg import sql

from qbr.inventory import write_inventory
from sandbox import ground_truth as gt
from sandbox.msp import generate

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
