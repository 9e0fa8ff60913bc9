"""Anomaly flags: read from dbt's `qbr.data_quality_flags`, raised once, then carried.

dbt computes the flags (METRICS.md section 4; `data_quality_flags.sql`: only
the latest complete month and the month in progress, a materiality floor per
unit). After each build the refresh calls `record()`: each flag is looked up
by its `flag_id` in `qbr_app.data_quality_flag_state` —

- **new**: first seen in this run (it is *raised*: counted in the run's summary);
- **carried**: seen before and not acknowledged (still listed, not raised again);
- **acknowledged**: a person acknowledged it (`POST /api/qbr/flags/<id>/acknowledge`).

The run stores the list with each flag's state (`refresh_runs.anomaly_flags`).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

FLAG_COLUMNS = ("flag_id", "period", "metric_key", "flag", "severity", "subject", "message")


def _has_flag_mart(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "select count(*) filter (where attname = 'flag_id') from pg_attribute "
        "where attrelid = to_regclass('qbr.data_quality_flags') and attnum > 0 "
        "and not attisdropped"
    ).fetchone()
    return bool(row and row[0])


def record(conn: psycopg.Connection, batch_id: str) -> list[dict[str, Any]]:
    """Record the current flags against the state table; returns them with their state."""
    if not _has_flag_mart(conn):
        return []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "insert into qbr_app.data_quality_flag_state as s "
            "(flag_id, organization_id, period, flag, subject, message, "
            " first_raised_batch, last_seen_batch) "
            "select flag_id, organization_id, period, flag, subject, message, %(b)s, %(b)s "
            "from qbr.data_quality_flags "
            "on conflict (flag_id) do update set last_seen_at = now(), "
            "last_seen_batch = excluded.last_seen_batch, message = excluded.message "
            "returning flag_id, first_raised_batch, first_raised_at, acknowledged_at",
            {"b": batch_id},
        ).fetchall()
        states = {r["flag_id"]: r for r in rows}
        flags = cur.execute(
            f"select {', '.join(FLAG_COLUMNS)} from qbr.data_quality_flags "
            "order by period desc, flag, subject nulls first"
        ).fetchall()
    out = []
    for f in flags:
        st = states.get(f["flag_id"]) or {}
        if st.get("acknowledged_at"):
            state = "acknowledged"
        elif st.get("first_raised_batch") == batch_id:
            state = "new"
        else:
            state = "carried"
        first = st.get("first_raised_at")
        out.append({**f, "state": state, "first_raised_at": first.isoformat() if first else None})
    return out


def counts(flags: list[dict[str, Any]]) -> dict[str, int]:
    result = {"new": 0, "carried": 0, "acknowledged": 0}
    for f in flags:
        state = f.get("state", "new")
        result[state] = result.get(state, 0) + 1
    return result
