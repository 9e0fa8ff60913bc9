"""Which sources a refresh loads, and where their credentials come from.

A source is *configured* when its settings are present the dlt way
(environment variables such as SOURCES__CONNECTWISE__BASE_URL or
`.dlt/secrets.toml`). With none configured and a sandbox running, every
source points at the sandbox: `make demo` needs no configuration at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qbr.settings import Settings

ALL_SOURCES = ("connectwise", "quickbooks", "quickbooks_desktop", "ninjaone")

_REQUIRED = {
    "connectwise": ("base_url", "company_id", "public_key", "private_key", "client_id"),
    "quickbooks": ("base_url", "token_url", "client_id", "client_secret", "realm_id"),
}


def sandbox_state(settings: Settings) -> dict[str, Any] | None:
    path = Path(settings.home) / "sandbox.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _lookup(source: str, key: str) -> str | None:
    """A source setting the dlt way: env SOURCES__<SOURCE>__<KEY> first, then
    `.dlt/secrets.toml` / `.dlt/config.toml` under the project root."""
    value = os.environ.get(f"SOURCES__{source.upper()}__{key.upper()}")
    if value:
        return value
    import dlt

    try:
        found = dlt.secrets.get(f"sources.{source}.{key}") or dlt.config.get(
            f"sources.{source}.{key}"
        )
    except Exception:  # an unreadable toml is reported by dlt at load time
        return None
    return str(found) if found else None


def _from_env(source: str) -> dict[str, str] | None:
    values = {k: _lookup(source, k) for k in _REQUIRED[source]}
    if all(values.values()):
        optional = _lookup(source, "refresh_token") if source == "quickbooks" else None
        found = {k: v for k, v in values.items() if v}
        if optional:
            found["refresh_token"] = optional
        return found
    return None


def source_config(settings: Settings, source: str) -> dict[str, Any] | None:
    """Keyword arguments for the source function, or None when not configured."""
    cfg = _from_env(source)
    if cfg is not None:
        return cfg
    state = sandbox_state(settings)
    if state is None:
        return None
    creds = state["credentials"].get(source, {})
    if source == "connectwise":
        return {"base_url": state["urls"]["connectwise"], **creds}
    if source == "quickbooks":
        return {
            "base_url": state["urls"]["quickbooks"],
            "token_url": state["urls"]["quickbooks_token"],
            **creds,
        }
    return None


def is_configured(settings: Settings, source: str) -> bool:
    if source == "quickbooks_desktop":
        # a step only when export files wait in the drop folder
        from dlt_pipelines import quickbooks_desktop

        return quickbooks_desktop.is_configured(settings)
    if source == "ninjaone":
        # only with real credentials: in the demo the inventory tables already
        # hold the sandbox's NinjaRMM snapshots, and both would write that day
        return all(
            os.environ.get(f"SOURCES__NINJAONE__{k}")
            for k in ("BASE_URL", "CLIENT_ID", "CLIENT_SECRET")
        )
    return source_config(settings, source) is not None


def configured_sources(settings: Settings) -> list[str]:
    wanted = [s for s in settings.sources.split(",") if s] or list(ALL_SOURCES)
    return [s for s in wanted if is_configured(settings, s)]
