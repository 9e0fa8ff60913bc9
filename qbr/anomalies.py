"""Anomaly flags (METRICS.md section 4), computed at the end of every refresh.

Warnings, never failures: the list is stored on the run
(`qbr_app.refresh_runs.anomaly_flags`) and shown by `qbr runs` and the API.
Everything is read with plain SQL from the marts, the run log and the
inventory; a relation (or column) that does not exist yet flags nothing.

Month-level checks look at the last 13 complete months: the window a refresh
can still change (the P&L is re-read that far back). The full history of
data-quality flags is the dbt mart `qbr.data_quality_flags`.

Each flag: `{"flag", "severity", "message"}` plus, where it applies,
`period`, `metric_key`, `source`, `value`, `previous`, `count`, `examples`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from qbr import db
from qbr.settings import Settings

log = logging.getLogger("qbr.anomalies")

#: A complete month where one of these is 0 is suspicious (a source gap, not a quiet month).
ZERO_KEYS = ("reactive_tickets_created", "reactive_tickets_closed", "endpoints_managed")
#: Units of input metrics (not ratios) checked for month-over-month jumps; where
#: qbr.metric_definitions has a metric_type, only its `input` metrics are.
MOM_UNITS = ("count", "hours", "dollars", "usd", "currency")
#: Units that can never be negative.
NON_NEGATIVE_UNITS = ("count", "hours")
#: Same as the dbt vars mom_change_flag_threshold / source_stale_after_hours.
MOM_CHANGE = 0.5
STALE_AFTER = timedelta(hours=24)
RECENT_MONTHS = 13
#: Sources attempted within this window are expected to stay fresh.
SOURCE_MEMORY = timedelta(days=30)
MAX_FLAGS = 200

Flag = dict[str, Any]


def _flag(flag: str, message: str, **extra: Any) -> Flag:
    return {"flag": flag, "severity": "warning", "message": message, **extra}


def compute(
    settings: Settings, *, steps: Iterable[Any] | None = None, now: datetime | None = None
) -> list[Flag]:
    """All flags for the current state; `steps` are the finished run's steps (if any)."""
    now = now or datetime.now(UTC)
    steps = list(steps or [])
    checks: list[Callable[[psycopg.Connection], list[Flag]]] = [
        lambda conn: stale_sources(conn, steps, now),
        lambda conn: stale_inventory(conn, settings.inventory_schema, settings.timezone, now),
        lambda conn: rejected_records(steps),
        unmapped_and_unmatched,
        lambda conn: metric_flags(conn, settings.timezone, now),
    ]
    flags: list[Flag] = []
    with db.connect(settings, autocommit=True) as conn:
        for check in checks:
            try:
                flags.extend(check(conn))
            except psycopg.Error as exc:  # a mart shaped unlike we expect: skip that check
                log.warning("anomaly check skipped: %s", str(exc).strip().splitlines()[0])
    if len(flags) > MAX_FLAGS:
        extra = len(flags) - MAX_FLAGS + 1
        flags = flags[: MAX_FLAGS - 1]
        flags.append(_flag("truncated", f"{extra} more flags not listed", count=extra))
    return flags


# --- helpers ---------------------------------------------------------------------------------


def _exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    row = conn.execute(
        "select to_regclass(format('%%I.%%I', %s::text, %s::text)) is not null", (schema, name)
    ).fetchone()
    return bool(row[0])


def _columns(conn: psycopg.Connection, schema: str, name: str) -> set[str]:
    rows = conn.execute(
        "select attname from pg_attribute "
        "where attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text)) "
        "and attnum > 0 and not attisdropped",
        (schema, name),
    ).fetchall()
    return {r[0] for r in rows}


def _month_before(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


# --- sources ---------------------------------------------------------------------------------


def stale_sources(conn: psycopg.Connection, steps: list[Any], now: datetime) -> list[Flag]:
    """A source (in this run, or attempted lately) whose last good load is over a day old."""
    rows = conn.execute(
        "select name, max(finished_at) filter (where status = 'succeeded'), max(finished_at) "
        "from qbr_app.refresh_steps where kind = 'source' group by name"
    ).fetchall()
    history = {name: (good, attempted) for name, good, attempted in rows}
    expected = {s.name for s in steps if getattr(s, "kind", None) == "source"}
    expected |= {n for n, (_, tried) in history.items() if tried and now - tried <= SOURCE_MEMORY}
    flags = []
    for name in sorted(expected):
        good = history.get(name, (None, None))[0]
        if good is None:
            flags.append(
                _flag("stale_source", f"{name} has never loaded successfully", source=name)
            )
        elif now - good > STALE_AFTER:
            hours = (now - good).total_seconds() / 3600
            flags.append(
                _flag(
                    "stale_source",
                    f"{name} not refreshed for {hours:.0f} hours "
                    f"(last good load {good.isoformat(timespec='minutes')})",
                    source=name,
                    last_good_load=good.isoformat(),
                )
            )
    return flags


def stale_inventory(conn: psycopg.Connection, schema: str, tz: str, now: datetime) -> list[Flag]:
    """The inventory collectors run on their own schedule: flag a snapshot over a day old."""
    if not _exists(conn, schema, "device_snapshot"):
        return []
    latest = conn.execute(
        sql.SQL("select max(snapshot_date) from {}").format(
            sql.Identifier(schema, "device_snapshot")
        )
    ).fetchone()[0]
    if latest is None:
        return [_flag("stale_source", "the device inventory has no snapshots", source="inventory")]
    if isinstance(latest, datetime):
        latest = latest.astimezone(ZoneInfo(tz)).date() if latest.tzinfo else latest.date()
    today = now.astimezone(ZoneInfo(tz)).date()
    age = (today - latest).days if isinstance(latest, date) else 0
    if age > 1:
        return [
            _flag(
                "stale_source",
                f"the latest device inventory snapshot is {age} days old ({latest})",
                source="inventory",
                last_good_load=str(latest),
            )
        ]
    return []


def rejected_records(steps: list[Any]) -> list[Flag]:
    """Records a load quarantined (negative hours, missing ids, wrong types)."""
    flags = []
    for step in steps:
        count = getattr(step, "rows_rejected", None)
        if count:
            flags.append(
                _flag(
                    "rejected_records",
                    f"{step.name}: {count} record(s) failed validation and were quarantined "
                    "(rejected_records), not loaded",
                    source=step.name,
                    count=int(count),
                )
            )
    return flags


# --- listings the marts keep -------------------------------------------------------------------

_LISTINGS = (
    ("unmapped_accounts", "P&L account(s) map to no category"),
    ("unmatched_clients", "client record(s) match no ConnectWise company"),
)
_NAME_COLUMNS = (
    "account_name",
    "client_name",
    "source_name",
    "customer_name",
    "organization_name",
    "name",
    "account_key",
)


def unmapped_and_unmatched(conn: psycopg.Connection) -> list[Flag]:
    flags = []
    for relation, what in _LISTINGS:
        if not _exists(conn, "qbr", relation):
            continue
        table = sql.Identifier("qbr", relation)
        count = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
        if not count:
            continue
        rows = conn.execute(
            sql.SQL("select row_to_json(t) from {} as t limit 5").format(table)
        ).fetchall()
        examples = []
        for (record,) in rows:
            key = next((c for c in _NAME_COLUMNS if record.get(c)), None)
            examples.append(str(record[key]) if key else str(next(iter(record.values()), "")))
        flags.append(
            _flag(
                relation,
                f"{count} {what}" + (f": {', '.join(examples)}" if examples else ""),
                count=int(count),
                examples=examples,
            )
        )
    return flags


# --- the monthly metrics ---------------------------------------------------------------------


def _input_keys(conn: psycopg.Connection) -> set[str] | None:
    """Keys the catalogue calls input metrics (not derived rows), if it says so."""
    if "metric_type" not in _columns(conn, "qbr", "metric_definitions"):
        return None
    rows = conn.execute(
        "select metric_key from qbr.metric_definitions where metric_type = 'input'"
    ).fetchall()
    return {r[0] for r in rows}


def metric_flags(conn: psycopg.Connection, tz: str, now: datetime) -> list[Flag]:
    """Zero months, negative counts/hours and >50% month-over-month jumps."""
    if not _exists(conn, "qbr", "metrics_monthly"):
        return []
    cols = _columns(conn, "qbr", "metrics_monthly")
    if not {"period", "metric_key", "value"} <= cols:
        return []
    unit = "unit" if "unit" in cols else "null::text"
    current = now.astimezone(ZoneInfo(tz)).strftime("%Y-%m")
    complete = "is_complete" if "is_complete" in cols else f"period < '{current}'"
    rows = conn.execute(
        f"select period, metric_key, value, {unit}, {complete} from qbr.metrics_monthly "
        "where period ~ '^[0-9]{4}-[0-9]{2}$'"
    ).fetchall()
    series: dict[str, dict[str, float | None]] = {}
    units: dict[str, str | None] = {}
    months: set[str] = set()
    for period, key, value, unit_value, is_complete in rows:
        if not is_complete:
            continue
        months.add(period)
        series.setdefault(key, {})[period] = _num(value)
        units[key] = (unit_value or "").lower() or units.get(key)
    recent = sorted(months)[-RECENT_MONTHS:]
    inputs = _input_keys(conn)
    flags: list[Flag] = []
    for key in sorted(series):
        values = series[key]
        key_unit = units.get(key) or ""
        is_input = key_unit in MOM_UNITS and (inputs is None or key in inputs)
        for period in recent:
            value = values.get(period)
            if value is None:
                continue
            if key in ZERO_KEYS and value == 0:
                flags.append(
                    _flag(
                        "zero_value",
                        f"{period}: {key} is 0 in a complete month",
                        period=period,
                        metric_key=key,
                        value=value,
                    )
                )
            if key_unit in NON_NEGATIVE_UNITS and value < 0:
                flags.append(
                    _flag(
                        "negative_value",
                        f"{period}: {key} is negative ({value:g} {key_unit})",
                        period=period,
                        metric_key=key,
                        value=value,
                    )
                )
            previous = values.get(_month_before(period))
            if is_input and previous not in (None, 0):
                change = (value - previous) / abs(previous)
                if abs(change) > MOM_CHANGE:
                    flags.append(
                        _flag(
                            "mom_change",
                            f"{period}: {key} changed {change:+.0%} month over month "
                            f"({previous:g} -> {value:g})",
                            period=period,
                            metric_key=key,
                            value=value,
                            previous=previous,
                            change=round(change, 4),
                        )
                    )
    return flags
