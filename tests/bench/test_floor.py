"""The bench's SQL floor (bench/floor.sql) computes what the mart computes.

Two independent routes to the same monthly operations numbers: dbt's models
(staging -> intermediate -> metrics_monthly_collected) and one hand-written
statement over the raw and inventory tables. Over the `small` sandbox (the
pipelines' own code over HTTP, the sandbox's inventory writer) they must agree
on every value the mart says was collected; otherwise the bench's "dbt vs
floor" ratio would compare dbt with something else. Only the mart and its
inputs are built (no dbt tests), to keep this cheap.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

import psycopg
import pytest

from bench import floor
from qbr import dbt_runner

FAST_HTTP = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "4",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.02",
    "RUNTIME__REQUEST_TIMEOUT": "10",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
}


@pytest.fixture(scope="module")
def built(make_database, tmp_path_factory):
    """small sandbox -> ConnectWise pipeline + inventory -> dbt +metrics_monthly_collected."""
    from dlt_pipelines import connectwise
    from qbr.inventory import write_inventory
    from sandbox.msp import generate
    from sandbox.servers.runner import Sandbox

    settings = make_database("qbr_bench")
    target = tmp_path_factory.mktemp("dbt_target")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAST_HTTP.items():
            mp.setenv(key, value)
        with Sandbox(generate("small", seed=42)) as sb:
            connectwise.run(
                settings, {"base_url": sb.urls["connectwise"], **sb.credentials["connectwise"]}
            )
            write_inventory(settings.url, settings.inventory_schema, sb.msp)
    result = dbt_runner.run(
        settings,
        [
            "build",
            "--select",
            "+metrics_monthly_collected",
            "--exclude-resource-type",
            "test",
            "--exclude-resource-type",
            "unit_test",
        ],  # fmt: skip
        extra_env={"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target / "logs")},
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout or "")[-4000:]
    return settings


def test_floor_gives_the_marts_numbers(built):
    with psycopg.connect(built.url) as conn:
        mart = floor.mart_numbers(conn)
        got = floor.floor_numbers(conn, built)
    # not vacuous: every metric of the floor is collected for many months
    keys = {key for _, key in mart}
    assert keys == set(floor.METRICS)
    months = {month for month, _ in mart}
    assert len(months) >= 12
    assert floor.compare(got, mart) == []
    # and real numbers, not zeros on both sides
    assert sum(v for (_, k), v in mart.items() if k == "endpoints_managed") > 0
    assert sum(v for (_, k), v in mart.items() if k == "reactive_tickets_created") > 0


def test_compare_reports_a_different_value():
    month = date(2025, 3, 1)
    mart = {(month, "endpoints_managed"): Decimal(120), (month, "seats_managed"): Decimal(0)}
    assert floor.compare({(month, "endpoints_managed"): Decimal(120)}, mart) == []
    assert floor.compare({(month, "endpoints_managed"): Decimal(119)}, mart) == [
        "2025-03 endpoints_managed: mart 120, floor 119"
    ]
