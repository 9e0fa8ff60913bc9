"""Anomaly flags (METRICS.md section 4) read from the marts with plain SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from qbr import anomalies
from qbr.refresh import Step, new_batch_id

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def execute(settings, *statements):
    with psycopg.connect(settings.url, autocommit=True) as conn:
        for statement in statements:
            if isinstance(statement, tuple):
                conn.execute(*statement)
            else:
                conn.execute(statement)


def log_source(settings, name, status, finished_at):
    batch_id = new_batch_id()
    execute(
        settings,
        (
            "insert into qbr_app.refresh_runs (batch_id, status, trigger) "
            "values (%s, 'succeeded', 'test')",
            (batch_id,),
        ),
        (
            "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind, status, "
            "finished_at) values (%s, 0, %s, 'source', %s, %s)",
            (batch_id, name, status, finished_at),
        ),
    )


def by_flag(flags):
    out: dict[str, list] = {}
    for f in flags:
        assert f["severity"] == "warning" and f["message"]
        out.setdefault(f["flag"], []).append(f)
    return out


def test_no_marts_yet_flags_nothing_but_never_loaded_sources(rdb):
    assert anomalies.compute(rdb, now=NOW) == []
    flags = anomalies.compute(rdb, steps=[Step("connectwise", "source")], now=NOW)
    assert [(f["flag"], f["source"]) for f in flags] == [("stale_source", "connectwise")]


def test_metric_flags_listings_stale_sources_and_rejections(rdb):
    rows = [
        # period, key, value, unit, complete
        ("2025-03", "reactive_tickets_created", 300, "count", True),
        ("2025-04", "reactive_tickets_created", 0, "count", True),  # zero month
        ("2025-05", "reactive_tickets_created", 310, "count", True),  # 0 -> 310: no % change
        ("2025-06", "reactive_tickets_created", 0, "count", False),  # in progress: ignored
        ("2025-03", "endpoints_managed", 100, "count", True),
        ("2025-04", "endpoints_managed", 104, "count", True),
        ("2025-05", "endpoints_managed", 160, "count", True),  # +54%
        ("2025-04", "reactive_time_spent", -3, "hours", True),  # negative
        ("2025-03", "mrr", 10000, "dollars", True),
        ("2025-04", "mrr", 4000, "dollars", True),  # -60%
        ("2025-03", "gross_margin", 0.2, "ratio", True),
        ("2025-04", "gross_margin", 0.6, "ratio", True),  # a ratio: not an input metric
        ("2025-04", "employees", None, "count", True),
        ("2025-03", "dollar_difference", 100, "dollars", True),
        ("2025-04", "dollar_difference", 900, "dollars", True),  # derived row: no % flag
    ]
    execute(
        rdb,
        "create schema qbr",
        "create table qbr.metrics_monthly (organization_id int, period text, metric_key text, "
        "value numeric, unit text, is_complete boolean)",
        "create table qbr.metric_definitions (metric_key text, metric_type text)",
        "insert into qbr.metric_definitions values ('reactive_tickets_created', 'input'), "
        "('endpoints_managed', 'input'), ('mrr', 'input'), ('reactive_time_spent', 'input'), "
        "('dollar_difference', 'derived')",
        "create table qbr.unmapped_accounts (account_key text, account_name text)",
        "insert into qbr.unmapped_accounts values ('81', 'Ask My Accountant'), ('90', 'Suspense')",
        "create table qbr.unmatched_clients (source text, source_name text)",
        "create schema inventory",
        "create table inventory.device_snapshot (snapshot_date date)",
        ("insert into inventory.device_snapshot values (%s)", (NOW.date() - timedelta(days=3),)),
    )
    with psycopg.connect(rdb.url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany("insert into qbr.metrics_monthly values (1, %s, %s, %s, %s, %s)", rows)
    log_source(rdb, "connectwise", "succeeded", NOW - timedelta(hours=2))
    log_source(rdb, "quickbooks", "succeeded", NOW - timedelta(days=3))
    log_source(rdb, "quickbooks", "failed", NOW - timedelta(hours=1))
    steps = [
        Step("connectwise", "source", status="succeeded", rows_rejected=4),
        Step("quickbooks", "source", status="failed"),
    ]

    flags = by_flag(anomalies.compute(rdb, steps=steps, now=NOW))

    assert [(f["period"], f["metric_key"]) for f in flags["zero_value"]] == [
        ("2025-04", "reactive_tickets_created")
    ]
    assert [(f["period"], f["metric_key"], f["value"]) for f in flags["negative_value"]] == [
        ("2025-04", "reactive_time_spent", -3.0)
    ]
    assert sorted((f["period"], f["metric_key"], f["change"]) for f in flags["mom_change"]) == [
        ("2025-04", "mrr", -0.6),
        ("2025-04", "reactive_tickets_created", -1.0),  # 300 -> 0: also a zero month
        ("2025-05", "endpoints_managed", 0.5385),
    ]
    assert flags["unmapped_accounts"][0]["count"] == 2
    assert flags["unmapped_accounts"][0]["examples"] == ["Ask My Accountant", "Suspense"]
    assert "unmatched_clients" not in flags  # empty listing
    assert sorted(f["source"] for f in flags["stale_source"]) == ["inventory", "quickbooks"]
    assert [(f["source"], f["count"]) for f in flags["rejected_records"]] == [("connectwise", 4)]


def test_marts_shaped_differently_are_tolerated(rdb):
    execute(
        rdb,
        "create schema qbr",
        "create table qbr.metrics_monthly (period text, metric_key text)",  # no value
        "create view qbr.unmapped_accounts as select 1 / 0 as boom",  # fails when read
    )
    assert anomalies.compute(rdb, now=NOW) == []
