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

ALL_SOURCES = ("connectwise", "quickbooks")

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


def _from_env(source: str) -> dict[str, str] | None:
    prefix = f"SOURCES__{source.upper()}__"
    values = {k: os.environ.get(prefix + k.upper()) for k in _REQUIRED[source]}
    if all(values.values()):
        return {k: v for k, v in values.items() if v}
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


def configured_sources(settings: Settings) -> list[str]:
    wanted = [s for s in settings.sources.split(",") if s] or list(ALL_SOURCES)
    return [s for s in wanted if source_config(settings, s) is not None]
