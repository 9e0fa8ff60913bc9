"""NinjaOne (optional) -> raw_ninjaone and a daily snapshot in the inventory tables."""

from __future__ import annotations

from typing import Any

import pytest

from dlt_pipelines import ninjaone
from tests.dlt_pipelines.conftest import ninja_config, query, scalar


@pytest.fixture(scope="module")
def loaded(sandbox: Any, warehouse: Any) -> Any:
    return ninjaone.run(warehouse, ninja_config(sandbox), snapshot_date=sandbox.msp.today)


def snapshot(settings: Any, day: Any) -> set[tuple]:
    schema = settings.inventory_schema
    return set(
        query(
            settings,
            f"select di.vendor_device_key, s.organization_name, s.location_name, s.hostname, "
            f"s.display_name, s.node_class, dt.code, bs.code, si.vendor_site_key "
            f"from {schema}.device_snapshot s "
            f"join {schema}.vendor v on v.id = s.vendor_id "
            f"join {schema}.device_identity di on di.id = s.device_identity_id "
            f"join {schema}.device_type dt on dt.id = s.device_type_id "
            f"join {schema}.billing_status bs on bs.id = s.billing_status_id "
            f"join {schema}.site si on si.id = s.site_id "
            f"where v.name = 'NinjaRMM' and s.snapshot_date = %s",
            (day,),
        )
    )


def expected(msp: Any) -> set[tuple]:
    return {
        (r["vendor_device_key"], r["organization_name"], r["location_name"], r["hostname"],
         r["display_name"], r["node_class"], r["device_type"], r["billing_status"],
         r["vendor_site_key"])
        for r in msp.iter_device_snapshots("NinjaRMM", start=msp.today, end=msp.today)
        if r["device_type"] != "vm_guest"
    }  # fmt: skip


def test_raw_tables_hold_the_sandbox_records(loaded: Any, sandbox: Any, warehouse: Any):
    msp = sandbox.msp
    for table, attr in (("organizations", "ninja_organizations"),
                        ("locations", "ninja_locations"), ("devices", "ninja_devices")):  # fmt: skip
        ids = {r[0] for r in query(warehouse, f"select id from raw_ninjaone.{table}")}
        assert ids == {r["id"] for r in getattr(msp, attr)}, table
    assert loaded.details["snapshot_date"] == msp.today.isoformat()


def test_the_daily_snapshot_matches_what_the_collector_writes(
    loaded: Any, sandbox: Any, warehouse: Any
):
    got = snapshot(warehouse, sandbox.msp.today)
    assert got == expected(sandbox.msp)
    assert loaded.details["snapshot_rows"] == len(got)
    assert {row[7] for row in got} == {"billable", "spare"}


def test_rerunning_the_same_day_replaces_it(loaded: Any, sandbox: Any, warehouse: Any):
    schema = warehouse.inventory_schema
    before = scalar(warehouse, f"select count(*) from {schema}.device_snapshot")
    ninjaone.run(warehouse, ninja_config(sandbox), snapshot_date=sandbox.msp.today)
    assert scalar(warehouse, f"select count(*) from {schema}.device_snapshot") == before


def test_the_next_day_after_changes(loaded: Any, sandbox: Any, warehouse: Any):
    sandbox.advance(1)
    sandbox.fault("ninjaone", "expired_token")
    sandbox.fault("ninjaone", "rate_limit", retry_after=1)
    result = ninjaone.run(warehouse, ninja_config(sandbox), snapshot_date=sandbox.msp.today)
    assert snapshot(warehouse, sandbox.msp.today) == expected(sandbox.msp)
    live = {r[0] for r in query(
        warehouse, "select id from raw_ninjaone.devices where _deleted_at is null")}  # fmt: skip
    assert live == {r["id"] for r in sandbox.msp.ninja_devices}
    assert result.details["rows_rejected"] == 0
