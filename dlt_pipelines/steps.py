"""One refresh step per source: configuration, the dlt source, the run.

`load(settings, name, full, since)` is what `qbr.refresh._load_source` calls;
it returns `(rows_loaded, details)` or raises `SourceError` with one line.

Steps: `connectwise`, `quickbooks` (QuickBooks Online API), `quickbooks_desktop`
(the files dropped into `<home>/imports/quickbooks/`; a step of its own so a
refused file fails only the import) and `ninjaone` (optional).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dlt_pipelines.errors import SourceError
from qbr.settings import Settings

STEPS = ("connectwise", "quickbooks", "quickbooks_desktop", "ninjaone")
LABELS = {
    "connectwise": "ConnectWise",
    "quickbooks": "QuickBooks",
    "quickbooks_desktop": "QuickBooks Desktop import",
    "ninjaone": "NinjaOne",
}


def parse_since(since: str | None, settings: Settings) -> date | None:
    """`YYYY-MM` (or `YYYY-MM-DD`) -> the first day of that month."""
    if not since:
        return None
    try:
        parts = [int(p) for p in since.strip().split("-")]
        return date(parts[0], parts[1], 1)
    except (ValueError, IndexError):
        raise SourceError(f"--since must look like YYYY-MM, got {since!r}") from None


def month_start_utc(month: date, timezone: str) -> datetime:
    """Local midnight on the first of the month, in UTC."""
    local = datetime(month.year, month.month, 1, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def _config(settings: Settings, name: str) -> dict[str, Any] | None:
    """Explicit keyword arguments for the source (qbr.sources: env or sandbox),
    or None to let dlt resolve them from `.dlt/secrets.toml` / env."""
    if name == "ninjaone":
        return ninjaone_config(settings)
    from qbr.sources import source_config

    return source_config(settings, name)


def ninjaone_config(settings: Settings) -> dict[str, Any] | None:
    prefix = "SOURCES__NINJAONE__"
    env = {
        k: os.environ.get(prefix + k.upper()) for k in ("base_url", "client_id", "client_secret")
    }
    if all(env.values()):
        return {k: v for k, v in env.items() if v}
    from qbr.sources import sandbox_state

    state = sandbox_state(settings)
    if state is None or "ninjaone" not in state.get("urls", {}):
        return None
    return {"base_url": state["urls"]["ninjaone"], **state["credentials"].get("ninjaone", {})}


def load(
    settings: Settings, name: str, full: bool = False, since: str | None = None
) -> tuple[int, dict[str, Any]]:
    if name not in STEPS:
        raise SourceError(f"no pipeline for source {name!r} (known: {', '.join(STEPS)})")
    month = parse_since(since, settings)
    if name == "quickbooks_desktop":
        from dlt_pipelines import quickbooks_desktop

        result = quickbooks_desktop.import_drop_folder(settings)
        return result.rows_loaded, result.details
    cfg = _config(settings, name)
    if name == "connectwise":
        from dlt_pipelines.connectwise import run

    elif name == "quickbooks":
        from dlt_pipelines.quickbooks import run
    else:
        from dlt_pipelines.ninjaone import run
    result = run(settings, cfg, full=full, since=month)
    if since:
        result.details["since"] = month.isoformat() if month else None
    if full:
        result.details["full"] = True
    return result.rows_loaded, result.details
