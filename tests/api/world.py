"""What the API tests expect of the real marts, derived without the marts.

The marts come from the real dbt build over the `small` sandbox MSP (see
`real_marts` in tests/conftest.py). Expected values here come from
`sandbox.ground_truth` (plain Python over the MSP's records, no SQL) and the
documented SmartNumber formulas (METRICS.md §2: S = the quarter's sum, A = the
average over months with a value, "/ 3" per month); expected periods come from
the clock the build ran on, as a person reads a calendar: the month in
progress is today's, the latest complete month the one before, the latest
complete quarter the one before today's quarter.

Before the API is up each test database also gets, by hand:
- manual entries (MANUAL): technical employees 4, 4, 5 and employees 8.5,
  8.5, 9 in the three months of the latest complete quarter, cash reserve
  50000 in its last month and in the latest complete month;
- two refresh runs in the run log (RUN_OK 26 h ago, RUN_PARTIAL 2 h ago with
  QuickBooks failed), so /health and /refresh have a run log to report.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from psycopg.types.json import Jsonb

from qbr.settings import PROJECT_ROOT

RUN_OK = "bc_01JD0000000000000000000001"
RUN_PARTIAL = "bc_01JD0000000000000000000002"
SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"


def month_period(d: date) -> str:
    return f"{d:%Y-%m}"


def add_months(period: str, n: int) -> str:
    y, m = int(period[:4]), int(period[5:7])
    i = y * 12 + (m - 1) + n
    return f"{i // 12}-{i % 12 + 1:02d}"


def quarter_of(period: str) -> str:
    return f"{period[:4]}-Q{(int(period[5:7]) - 1) // 3 + 1}"


def quarter_months(quarter: str) -> list[str]:
    y, q = int(quarter[:4]), int(quarter[6])
    return [f"{y}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]


def add_quarters(quarter: str, n: int) -> str:
    return quarter_of(add_months(quarter_months(quarter)[0], 3 * n))


def catalogue() -> list[dict]:
    """The metric catalogue seed (the input the marts' definitions come from)."""
    with (SEEDS / "metric_catalogue.csv").open() as f:
        return list(csv.DictReader(f))


def default_thresholds() -> dict[str, dict]:
    with (SEEDS / "default_thresholds.csv").open() as f:
        return {row["metric_key"]: row for row in csv.DictReader(f)}


def band(value: float, t: dict) -> str:
    """METRICS.md's threshold colours (the rule tests/api/test_units.py pins)."""

    def f(name):
        return float(t[name]) if t[name] not in ("", None) else None

    gmin, gmax, ymin, ymax = f("green_min"), f("green_max"), f("yellow_min"), f("yellow_max")
    if t["direction"] == "lower_is_better":
        return (
            "green" if value <= gmax else "yellow" if ymax is not None and value <= ymax else "red"
        )
    if t["direction"] == "higher_is_better":
        return (
            "green" if value >= gmin else "yellow" if ymin is not None and value >= ymin else "red"
        )
    if gmin <= value <= gmax:
        return "green"
    return "yellow" if ymin <= value <= ymax else "red"


def in_display_order(rows: list[dict]) -> list[str]:
    return [r["metric_key"] for r in sorted(rows, key=lambda r: int(r["display_order"]))]


@dataclass
class World:
    msp: Any
    today: date
    history_start: str

    # -- the calendar ---------------------------------------------------------

    @property
    def current_month(self) -> str:
        return month_period(self.today)

    @property
    def last_month(self) -> str:  # the latest complete month
        return add_months(self.current_month, -1)

    @property
    def current_quarter(self) -> str:
        return quarter_of(self.current_month)

    @property
    def quarter(self) -> str:  # the latest complete quarter
        return add_quarters(self.current_quarter, -1)

    @property
    def months(self) -> list[str]:
        """Every monthly period the marts report: history start .. current month."""
        out, p = [], self.history_start
        while p <= self.current_month:
            out.append(p)
            p = add_months(p, 1)
        return out

    @property
    def quarters(self) -> list[str]:
        return sorted({quarter_of(p) for p in self.months})

    @property
    def first_data_month(self) -> str:
        return month_period(self.msp.start_month)

    # -- the manual entries made before the API is up -------------------------

    @property
    def manual(self) -> list[tuple[str, str, float]]:
        m1, m2, m3 = quarter_months(self.quarter)
        rows = [
            (m1, "technical_employees", 4),
            (m2, "technical_employees", 4),
            (m3, "technical_employees", 5),
            (m1, "employees", 8.5),
            (m2, "employees", 8.5),
            (m3, "employees", 9),
            (m3, "cash_reserve", 50000),
        ]
        if self.last_month != m3:
            rows.append((self.last_month, "cash_reserve", 50000))
        return rows

    def manual_value(self, period: str, key: str) -> float | None:
        found = [v for p, k, v in self.manual if (p, k) == (period, key)]
        return found[-1] if found else None

    # -- values ---------------------------------------------------------------

    def inputs(self, period: str) -> dict[str, Any]:
        return self._inputs[period]

    @cached_property
    def _inputs(self) -> dict[str, dict]:
        from sandbox.ground_truth import monthly_inputs

        out = {}
        for p in self.months:
            values = dict(monthly_inputs(self.msp, p))
            for key in ("technical_employees", "employees", "cash_reserve"):
                values[key] = self.manual_value(p, key)
            out[p] = values
        return out

    def value(self, period: str, key: str) -> float | None:
        if period not in self._inputs:  # a month still to come
            return None
        v = self.inputs(period).get(key)
        return None if v is None else float(v)

    def quarter_sum(self, quarter: str, key: str) -> float | None:
        values = [self.value(p, key) for p in quarter_months(quarter)]
        values = [v for v in values if v is not None]
        return sum(values) if values else None

    def quarter_avg(self, quarter: str, key: str) -> float | None:
        values = [self.value(p, key) for p in quarter_months(quarter)]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    def smart(self, quarter: str) -> dict[str, float | None]:
        """The three SmartNumbers the tests look at, by METRICS.md's formulas, for a
        complete quarter ("/ 3")."""

        def div(a, b):
            return None if a is None or not b else a / b

        hours = self.quarter_sum(quarter, "reactive_time_spent")
        closed = self.quarter_sum(quarter, "reactive_tickets_closed")
        created = self.quarter_sum(quarter, "reactive_tickets_created")
        endpoints = self.quarter_avg(quarter, "endpoints_managed")
        techs = self.quarter_avg(quarter, "technical_employees")
        return {
            "rhem": div(div(hours, endpoints), 3),
            "total_close_pct": div(closed, created),
            "tickets_per_tech_per_month": div(div(closed, techs), 3),
        }

    # -- clients --------------------------------------------------------------

    def clients(self, include_internal: bool = False) -> list[dict]:
        """Companies of the clients mart as the sandbox made them: vendors left out;
        matched when known in both other systems, partial in one, else unmatched."""
        out = []
        for c in self.msp.clients:
            if c["kind"] == "vendor" or (c["kind"] == "internal" and not include_internal):
                continue
            known = (c["ninja_name"] is not None) + (c["qbo_customer_id"] is not None)
            status = {2: "matched", 1: "partial", 0: "unmatched"}[known]
            out.append({"client_id": c["cw_company_id"], "client_name": c["cw_name"],
                        "match_status": status})  # fmt: skip
        return sorted(out, key=lambda c: c["client_name"])

    def client_month(self, period: str, client_id: int) -> dict | None:
        from sandbox.ground_truth import client_monthly

        return client_monthly(self.msp, period).get(client_id)


def seed_database(conn, world: World) -> None:
    """The manual entries and the two runs, written as the app would have written them."""
    for period, key, value in world.manual:
        conn.execute(
            "insert into qbr_app.manual_metrics (period, metric_key, value, notes, entered_by) "
            "values (%s, %s, %s, 'from the sheet', 'fixture')",
            (period, key, value),
        )
    conn.execute(
        "insert into qbr_app.refresh_runs (batch_id, status, trigger, requested_by, options, "
        "progress, created_at, started_at, finished_at) values "
        "(%s, 'succeeded', 'cli', 'ops', %s, 100, now() - interval '26 hours', "
        "now() - interval '26 hours', now() - interval '25 hours'), "
        "(%s, 'partial', 'schedule', null, %s, 100, now() - interval '2 hours', "
        "now() - interval '2 hours', now() - interval '1 hour')",
        (RUN_OK, Jsonb({"sources": ["connectwise", "quickbooks"]}), RUN_PARTIAL, Jsonb({})),
    )
    steps = [
        (RUN_OK, 0, "connectwise", "source", "succeeded", 120, "26 hours", "25.5 hours", None),
        (RUN_OK, 1, "quickbooks", "source", "succeeded", 40, "25.5 hours", "25.2 hours", None),
        (RUN_OK, 2, "dbt_build", "build", "succeeded", 0, "25.2 hours", "25 hours", None),
        (RUN_PARTIAL, 0, "connectwise", "source", "succeeded", 12, "2 hours", "1.5 hours", None),
        (RUN_PARTIAL, 1, "quickbooks", "source", "failed", None, "1.5 hours", "1.4 hours", "HTTP 500 from QuickBooks"),
        (RUN_PARTIAL, 2, "dbt_build", "build", "succeeded", 0, "1.4 hours", "1 hour", None),
    ]  # fmt: skip
    for batch, order, name, kind, status, rows, started, finished, error in steps:
        conn.execute(
            "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind, status, "
            "rows_loaded, started_at, finished_at, duration_ms, error) values "
            "(%s, %s, %s, %s, %s, %s, now() - %s::interval, now() - %s::interval, 1000, %s)",
            (batch, order, name, kind, status, rows, started, finished, error),
        )
