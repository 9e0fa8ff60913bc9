"""The one inventory writer (qbr/inventory.py) writes what the sandbox's own copy
wrote: the same rows in all six tables, for the same synthetic MSP and days.

(Once sandbox/inventory.py imports the core writer this compares it with itself;
until then it proves the move loses nothing.)"""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import psycopg
import pytest
from psycopg import sql

from qbr import inventory
from sandbox import inventory as sandbox_inventory
from sandbox.msp import generate

CONTENT = {
    "vendor": "select name from {s}.vendor",
    "site": "select v.name, s.vendor_site_key, s.name from {s}.site s "
    "join {s}.vendor v on v.id = s.vendor_id",
    "device_identity": "select v.name, d.vendor_device_key, d.first_seen_date, d.last_seen_date "
    "from {s}.device_identity d join {s}.vendor v on v.id = d.vendor_id",
    "device_snapshot": "select v.name, d.vendor_device_key, x.snapshot_date, si.vendor_site_key, "
    "t.code, b.code, x.hostname, x.os_name, x.organization_name, x.display_name, "
    "x.location_name, x.device_status, x.node_class, x.last_online "
    "from {s}.device_snapshot x join {s}.vendor v on v.id = x.vendor_id "
    "join {s}.device_identity d on d.id = x.device_identity_id "
    "left join {s}.site si on si.id = x.site_id "
    "left join {s}.device_type t on t.id = x.device_type_id "
    "left join {s}.billing_status b on b.id = x.billing_status_id",
}


@pytest.fixture(scope="module")
def msp():
    return generate("small", seed=5, today=date(2026, 11, 23))


def _content(db_url: str, schema: str) -> dict[str, list[tuple]]:
    with psycopg.connect(db_url) as conn:
        return {
            table: sorted(
                conn.execute(sql.SQL(query).format(s=sql.Identifier(schema))).fetchall(),
                key=repr,
            )
            for table, query in CONTENT.items()
        }


def test_the_core_writer_writes_what_the_sandbox_wrote(db_url, msp):
    days = (msp.today - timedelta(days=6), msp.today)
    ours, theirs = (f"inventory_{secrets.token_hex(3)}" for _ in range(2))
    counts = inventory.write_inventory(db_url, ours, msp, days=days)
    expected = sandbox_inventory.write_inventory(db_url, theirs, msp, days=days)
    assert counts == expected
    assert counts["device_snapshot_rows_written"] > 0
    content = _content(db_url, ours)
    assert content == _content(db_url, theirs)
    assert len(content["device_snapshot"]) == counts["tables"]["device_snapshot"]
