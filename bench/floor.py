"""The SQL floor of the dbt build: `floor.sql` computes the monthly operations
numbers of `qbr.metrics_monthly_collected` in one statement; `measure` times it
and checks that it gives the mart's numbers on every month the mart says were
collected (a floor that computes something else would prove nothing).
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from qbr.settings import Settings

FLOOR_SQL = (Path(__file__).parent / "floor.sql").read_text()
METRICS = (
    "endpoints_managed",
    "seats_managed",
    "endpoints_with_security",
    "reactive_tickets_created",
    "reactive_tickets_closed",
    "reactive_time_spent",
)
MART_SQL = """
select month_start, metric_key, collected_value
from qbr.metrics_monthly_collected
where organization_id = %(org)s and coverage = 'collected' and metric_key = any(%(keys)s)
"""
SPARE_PATTERN = "spare"  # the dbt var spare_pattern's default


def floor_query(settings: Settings) -> sql.Composed:
    return sql.SQL(FLOOR_SQL).format(inventory=sql.Identifier(settings.inventory_schema))


def floor_numbers(conn: psycopg.Connection, settings: Settings) -> dict[tuple, Decimal]:
    rows = conn.execute(
        floor_query(settings), {"tz": settings.timezone, "spare": f"%{SPARE_PATTERN}%"}
    ).fetchall()
    return {(month, key): value for month, key, value in rows if month is not None}


def mart_numbers(conn: psycopg.Connection, organization_id: int = 1) -> dict[tuple, Decimal]:
    rows = conn.execute(MART_SQL, {"org": organization_id, "keys": list(METRICS)}).fetchall()
    return {(month, key): value for month, key, value in rows}


def compare(floor: dict[tuple, Decimal], mart: dict[tuple, Decimal]) -> list[str]:
    """Every collected mart value the floor does not reproduce (a month the floor
    has nothing for is 0, as in the mart)."""
    wrong = []
    for (month, key), value in sorted(mart.items()):
        got = floor.get((month, key), Decimal(0)) or Decimal(0)
        if value is None or abs(Decimal(got) - Decimal(value)) > Decimal("0.000001"):
            wrong.append(f"{month:%Y-%m} {key}: mart {value}, floor {got}")
    return wrong


def measure(settings: Settings, repeat: int = 3) -> dict:
    """Run the floor `repeat` times (median seconds) and compare it with the mart."""
    times = []
    with psycopg.connect(settings.url, autocommit=True) as conn:
        for _ in range(repeat):
            started = time.perf_counter()
            floor = floor_numbers(conn, settings)
            times.append(time.perf_counter() - started)
        mart = mart_numbers(conn)
    wrong = compare(floor, mart)
    return {
        "seconds": round(statistics.median(times), 3),
        "runs_s": [round(t, 3) for t in times],
        "mart_values_compared": len(mart),
        "matches_mart": bool(mart) and not wrong,
        "mismatches": wrong[:20],
    }
