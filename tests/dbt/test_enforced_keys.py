"""Checks a data-only build no longer pays for by scanning, on the real small warehouse.

- Keys the database enforces (NOT NULL, and a unique index on the key alone) are kept on
  every write: a null or a duplicate fails the write. Their data tests stay: `not_null` is
  planned as "false" without reading a row, `unique_key` reads the catalog and skips its
  scan, and both still fail when the table no longer enforces the key.
- An incremental monthly model reads its months from a date literal (evaluated when the
  model compiles), equal to the rule (latest month held - lookback, or refresh_since).
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from tests.dbt.conftest import Warehouse

ENFORCED = {
    "qbr_intermediate.int_device_snapshots_latest_in_month": [
        "snapshot_month",
        "device_identity_id",
    ],
    "qbr_intermediate.int_time_entries_bucketed": ["time_entry_id"],
    "qbr_intermediate.int_tickets_classified": ["ticket_id"],
    "qbr_intermediate.int_time_entries_classified": ["time_entry_id"],
}


def _not_null_columns(warehouse: Warehouse, table: str) -> set[str]:
    rows = warehouse.query(
        "select attname from pg_attribute where attrelid = %s::regclass "
        "and attnum > 0 and attnotnull",
        (table,),
    )
    return {name for (name,) in rows}


def _test_sql(warehouse: Warehouse, test: str) -> str:
    """The SQL the module's first build ran for a data test (its run_results)."""
    [sql] = [
        r["compiled_code"]
        for r in warehouse.first_build["results"]  # type: ignore[attr-defined]
        if r["unique_id"].split(".")[2] == test
    ]
    return sql


def _scans(warehouse: Warehouse, sql: str, table: str) -> list[str]:
    """The plan lines (EXPLAIN ANALYZE) that read `table`."""
    plan = [r[0] for r in warehouse.query("explain analyze " + sql)]
    return [line for line in plan if line.strip().startswith("->") and f" on {table} " in line]


def _compiled_model(warehouse: Warehouse, model: str) -> str:
    path = warehouse.target / "compiled" / "qbr" / "models" / "intermediate" / f"{model}.sql"
    return path.read_text()


def test_enforced_keys_refuse_nulls_and_their_tests_read_no_rows(warehouse: Warehouse):
    for table, columns in ENFORCED.items():
        assert set(columns) <= _not_null_columns(warehouse, table), table
    latest = "qbr_intermediate.int_device_snapshots_latest_in_month"
    with pytest.raises(psycopg.errors.NotNullViolation):
        warehouse.execute(
            f"update {latest} set device_identity_id = null "
            f"where device_identity_id = (select min(device_identity_id) from {latest})"
        )
    # the not_null test dbt ran is answered by the plan alone
    sql = _test_sql(warehouse, "not_null_int_device_snapshots_latest_in_month_device_identity_id")
    plan = "\n".join(r[0] for r in warehouse.query("explain " + sql))
    assert "One-Time Filter: false" in plan, plan
    assert "Seq Scan" not in plan, plan
    # and unique_key's catalog check holds for the enforced keys, not for a view
    sql = _test_sql(warehouse, "unique_key_int_tickets_classified_ticket_id")
    assert warehouse.query(sql.replace("\n", " ")) == []
    [scan] = _scans(warehouse, sql, "int_tickets_classified")
    assert "(never executed)" in scan, scan
    # a view holds no index: its key test scans (the raw tickets under it)
    sql = _test_sql(warehouse, "unique_key_stg_connectwise__tickets_ticket_id")
    [scan] = _scans(warehouse, sql, "tickets")
    assert "(never executed)" not in scan and "rows=0.00" not in scan, scan


def test_unique_key_still_fails_when_the_table_stops_enforcing_the_key(warehouse: Warehouse):
    """The catalog check only skips a scan that could not fail: without the unique index
    the test scans again and finds the duplicate (then the model is rebuilt)."""
    table = "qbr_intermediate.int_tickets_classified"
    [(index,)] = warehouse.query(
        "select indexrelid::regclass::text from pg_index where indrelid = %s::regclass "
        "and indisunique",
        (table,),
    )
    warehouse.execute(
        f"drop index {index}; insert into {table} select * from {table} "
        f"where ticket_id = (select min(ticket_id) from {table})"
    )
    try:
        failed = warehouse.dbt("test", "--select", "unique_key_int_tickets_classified_ticket_id")
        assert failed.returncode != 0
        assert "FAIL 1 unique_key_int_tickets_classified_ticket_id" in failed.stdout, failed.stdout[
            -3000:
        ]
    finally:
        rebuilt = warehouse.dbt("run", "--select", "int_tickets_classified")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    assert warehouse.query(
        "select count(*) from pg_index where indrelid = %s::regclass and indisunique", (table,)
    ) == [(1,)]


def test_incremental_months_are_a_literal_of_the_rule(warehouse: Warehouse):
    [(latest,)] = warehouse.query(
        "select max(snapshot_month) from qbr_intermediate.int_devices_classified"
    )
    lookback = (latest.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    compiled = warehouse.dbt("compile", "--select", "int_devices_classified")
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    assert f"where snapshot_month >= date '{lookback.isoformat()}'" in _compiled_model(
        warehouse, "int_devices_classified"
    )
    # `qbr refresh --since` earlier than that: the earlier month
    since = warehouse.dbt(
        "compile",
        "--select",
        "int_devices_classified",
        "--vars",
        '{"refresh_since": "2020-03"}',
    )
    assert since.returncode == 0, since.stdout[-3000:]
    assert "where snapshot_month >= date '2020-03-01'" in _compiled_model(
        warehouse, "int_devices_classified"
    )
