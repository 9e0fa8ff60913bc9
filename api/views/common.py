"""Lookups shared by the resources: metric definitions, periods, JSON conversion."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import psycopg
from flask import g

from api.auth import org_id
from api.cache import memo
from api.db import number
from api.errors import ApiError


def jsonable(value: Any) -> Any:
    """A database value as JSON: numerics as numbers, times as ISO 8601."""
    if isinstance(value, Decimal | float):
        return number(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _normal(text: str) -> str:
    text = text.lower().strip()
    text = re.sub(r"^(#|number)\s*of\s+", "", text)
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def definitions(conn: psycopg.Connection) -> dict[str, dict]:
    """metric_key -> definition row (read once per data version)."""

    def load() -> dict[str, dict]:
        rows = conn.execute(
            "select metric_key, metric_name, category, unit, source, formula, quarterly_rule, "
            "direction, display_order, is_smartnumber, description, docs_url, collection, "
            "metric_type, allows_negative "
            "from qbr.metric_definitions order by display_order nulls last, metric_key"
        ).fetchall()
        return {r["metric_key"]: r for r in rows}

    cached = g.get("qbr_definitions")
    if cached is None:
        cached = g.qbr_definitions = memo(("definitions",), load)
    return cached


def unknown_metric(name: str, valid: list[str]) -> ApiError:
    return ApiError(
        404,
        "METRIC_NOT_FOUND",
        f"Unknown metric {name!r}. Valid keys: {', '.join(valid)}.",
        valid_keys=valid,
    )


def resolve_metric(conn: psycopg.Connection, ref: str, valid: list[str] | None = None) -> dict:
    """A metric's definition by key or by name ('Reactive Tickets Closed'); 404 names the keys."""
    defs = definitions(conn)
    keys = valid if valid is not None else list(defs)
    if ref in defs and ref in keys:
        return defs[ref]
    wanted = _normal(ref)
    for key in keys:
        d = defs[key]
        if wanted in (_normal(key), _normal(d["metric_name"] or "")):
            return d
    raise unknown_metric(ref, keys)


def metric_filter(conn: psycopg.Connection, raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [
        resolve_metric(conn, part.strip())["metric_key"] for part in raw.split(",") if part.strip()
    ]


def source_filter(conn: psycopg.Connection, raw: str | None) -> str | None:
    if raw is None:
        return None
    valid = sorted({(d["source"] or "") for d in definitions(conn).values()} - {""})
    if raw.lower() not in {v.lower() for v in valid}:
        raise ApiError(
            400,
            "INVALID_PARAMETER",
            f"Unknown source {raw!r}. Valid sources: {', '.join(valid)}.",
            param="source",
        )
    return raw.lower()


def latest_complete(conn: psycopg.Connection, period_type: str) -> str:
    row = memo(
        ("latest", org_id(), period_type),
        lambda: conn.execute(
            "select max(period) as period from qbr.periods "
            "where organization_id = %s and period_type = %s and is_complete",
            (org_id(), period_type),
        ).fetchone(),
    )
    if row is None or row["period"] is None:
        what = "month" if period_type == "monthly" else "quarter"
        raise ApiError(404, "NO_DATA", f"No complete {what} has been built yet: run a refresh.")
    return row["period"]


def periods_in(conn: psycopg.Connection, period_type: str, first: str, last: str) -> list[dict]:
    rows = memo(
        ("periods", org_id(), period_type, first, last),
        lambda: conn.execute(
            "select period, is_complete, is_in_progress, months from qbr.periods "
            "where organization_id = %s and period_type = %s and period between %s and %s "
            "order by period",
            (org_id(), period_type, first, last),
        ).fetchall(),
    )
    if not rows:
        span = first if first == last else f"{first} to {last}"
        bounds = conn.execute(
            "select min(period) as lo, max(period) as hi from qbr.periods "
            "where organization_id = %s and period_type = %s",
            (org_id(), period_type),
        ).fetchone()
        have = f" (the warehouse has {bounds['lo']} to {bounds['hi']})" if bounds["lo"] else ""
        raise ApiError(404, "PERIOD_NOT_FOUND", f"No {period_type} period {span}{have}.")
    return rows
