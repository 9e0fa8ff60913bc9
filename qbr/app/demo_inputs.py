"""A plausible monthly history of the manual inputs, for `qbr demo`.

No system holds headcount, sales activity or cash, so an MSP types them in
each month (POST /metrics/manual). The demo does the same for every complete
month of its history, writing rows of `qbr_app.manual_metrics` exactly as the
API does (action `set`, entered_by `demo`), so every SmartNumber of every
complete demo quarter has a value and the entry history reads like a real
one. Values are deterministic (seeded per month and metric), scaled to the
synthetic MSP (its technicians and clients) and, for cash, to the expenses
the refresh just built. Months that already have an entry for a metric are
left alone: a second `make demo`, or a value the user typed, is never
overwritten.
"""

from __future__ import annotations

import random

import psycopg

from qbr.settings import Settings

ENTERED_BY = "demo"
NOTES = "demo history (qbr demo)"
MANUAL_KEYS = (
    "employees",
    "technical_employees",
    "telemarketing_dials",
    "first_time_appointments",
    "prospects_to_pbr",
    "cash_reserve",
    "ar_over_90_days",
)


def monthly_values(
    period: str,
    technicians: int,
    clients: int,
    expenses: float | None,
    seed: int,
    tickets_closed: float | None = None,
) -> dict[str, float]:
    """One month's entries. `expenses` (total_expenses) and `tickets_closed`
    (reactive tickets closed) are that month's collected values, or None: the
    help desk is staffed for about 50 closed tickets per technician a month,
    so headcount grows with the MSP as a real one's does."""

    def rng(metric: str) -> random.Random:
        return random.Random(f"{seed}:{period}:{metric}")

    if tickets_closed:
        technicians = max(1, round(tickets_closed / 50 * 2) / 2)
    techs = technicians + rng("technical_employees").choice(
        [0, 0, 0, 0.5, -0.5 if technicians > 2 else 0]
    )
    office = max(2.0, round(technicians * 0.45 * 2) / 2)
    employees = techs + office + rng("employees").choice([0, 0, 0.5])
    appointments = max(2, round(clients / 8)) + rng("first_time_appointments").randint(0, 3)
    dials = round(appointments * rng("telemarketing_dials").uniform(14, 27))
    prospects = max(1, round(appointments * rng("prospects_to_pbr").uniform(0.4, 0.8)))
    base = expenses if expenses and expenses > 0 else 25_000.0 * max(1, technicians)
    cash = round(base * rng("cash_reserve").uniform(1.6, 3.2), -2)
    ar90 = round(base * rng("ar_over_90_days").uniform(0.02, 0.07), -1)
    return {
        "employees": employees,
        "technical_employees": techs,
        "telemarketing_dials": dials,
        "first_time_appointments": appointments,
        "prospects_to_pbr": prospects,
        "cash_reserve": cash,
        "ar_over_90_days": ar90,
    }


def enter_manual_history(
    settings: Settings, technicians: int, clients: int, organization_id: int = 1
) -> int:
    """Enter the history for every complete month; returns the number of rows written."""
    with psycopg.connect(settings.url) as conn:
        # complete months the sources cover (the sandbox's history, not the empty years before)
        months = [
            r[0]
            for r in conn.execute(
                "select period from qbr.periods where organization_id = %s "
                "and period_type = 'monthly' and is_complete "
                "and (has_connectwise or has_quickbooks) order by period",
                (organization_id,),
            )
        ]
        collected: dict[tuple[str, str], float] = {
            (p, k): float(v)
            for p, k, v in conn.execute(
                "select period, metric_key, collected_value from qbr.metrics_monthly_collected "
                "where organization_id = %s and collected_value is not null "
                "and metric_key in ('total_expenses', 'reactive_tickets_closed')",
                (organization_id,),
            )
        }
        existing = set(
            conn.execute(
                "select period, metric_key from qbr_app.manual_metrics where organization_id = %s",
                (organization_id,),
            ).fetchall()
        )
        rows = []
        for period in months:
            values = monthly_values(
                period,
                technicians,
                clients,
                collected.get((period, "total_expenses")),
                settings.sandbox_seed,
                collected.get((period, "reactive_tickets_closed")),
            )
            for key in MANUAL_KEYS:
                if (period, key) not in existing:
                    rows.append((organization_id, period, key, values[key], NOTES, ENTERED_BY))
        with conn.cursor() as cur:
            cur.executemany(
                "insert into qbr_app.manual_metrics "
                "(organization_id, period, metric_key, action, value, notes, entered_by) "
                "values (%s, %s, %s, 'set', %s, %s, %s)",
                rows,
            )
    return len(rows)
