"""The source registry: every source a refresh can load, and whether it is configured.

One entry per source says what the rest of the system needs to know about it:

- `name`: the refresh step, the `SOURCES__<NAME>__<KEY>` settings, `raw_<name>`;
- `label`: what people read;
- `package`: the module (under `dlt_pipelines/`) whose `run(settings, config, *,
  full, since)` loads it — named, not imported: the core imports no pipeline;
  `qbr.app.sources` imports it when a refresh runs the step;
- `settings` / `optional`: its required and optional settings, the dlt way
  (environment `SOURCES__<NAME>__<KEY>`, else `.dlt/secrets.toml` /
  `.dlt/config.toml`);
- `sandbox_server`: the sandbox server imitating it (`sandbox.servers.SERVERS`)
  and `sandbox_urls`, which of the running sandbox's URLs (`<home>/sandbox.json`)
  become which keyword; `sandbox_default`: whether a running sandbox alone
  configures it (False: only when named, e.g. `--sources ninjaone`);
- `drop_folder` / `file_suffixes`: a file-import source is configured when
  files wait in `<home>/<drop_folder>`;
- `dataset`: the raw schema it lands in, when not `raw_<name>`.

A source is *configured* when all its settings are present; with none and a
sandbox running, sources point at the sandbox (`make demo` needs no
configuration at all). Adding a source: its package under `dlt_pipelines/`,
one entry here, its dbt staging folder (docs/contributing/add-a-source.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbr.settings import Settings


@dataclass(frozen=True)
class Source:
    name: str
    label: str
    package: str
    settings: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    sandbox_server: str | None = None
    sandbox_urls: tuple[tuple[str, str], ...] = ()
    sandbox_default: bool = True
    drop_folder: tuple[str, ...] = ()
    file_suffixes: tuple[str, ...] = ()
    dataset: str | None = None

    @property
    def raw_dataset(self) -> str:
        """The schema its rows land in: `raw_<name>` unless `dataset` says otherwise."""
        return self.dataset or f"raw_{self.name}"


#: In refresh order. `sandbox_server` names a key of sandbox.servers.SERVERS.
REGISTRY: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="connectwise",
            label="ConnectWise",
            package="dlt_pipelines.connectwise",
            settings=("base_url", "company_id", "public_key", "private_key", "client_id"),
            sandbox_server="connectwise",
            sandbox_urls=(("base_url", "connectwise"),),
        ),
        Source(
            name="quickbooks",
            label="QuickBooks",
            package="dlt_pipelines.quickbooks",
            settings=("base_url", "token_url", "client_id", "client_secret", "realm_id"),
            optional=("refresh_token",),
            sandbox_server="quickbooks",
            sandbox_urls=(("base_url", "quickbooks"), ("token_url", "quickbooks_token")),
        ),
        Source(
            name="quickbooks_desktop",
            label="QuickBooks Desktop import",
            package="dlt_pipelines.quickbooks_desktop",
            drop_folder=("imports", "quickbooks"),
            file_suffixes=(".csv", ".xlsx"),
            dataset="raw_quickbooks",  # the P&L beside QuickBooks Online's
        ),
        Source(
            name="ninjaone",
            label="NinjaOne",
            package="dlt_pipelines.ninjaone",
            settings=("base_url", "client_id", "client_secret"),
            sandbox_server="ninjaone",
            sandbox_urls=(("base_url", "ninjaone"),),
            # only with real credentials by default: in the demo the inventory tables
            # already hold the sandbox's NinjaRMM snapshots, and both would write that day
            sandbox_default=False,
        ),
    )
}


def names() -> tuple[str, ...]:
    """Every registered source, in refresh order."""
    return tuple(REGISTRY)


def get(name: str) -> Source | None:
    return REGISTRY.get(name)


def sandbox_state(settings: Settings) -> dict[str, Any] | None:
    """The running sandbox's URLs and credentials (`<home>/sandbox.json`), if any."""
    path = Path(settings.home) / "sandbox.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def lookup(source: str, key: str) -> str | None:
    """A source setting the dlt way: env SOURCES__<SOURCE>__<KEY> first, then
    `.dlt/secrets.toml` / `.dlt/config.toml` under the project root."""
    value = os.environ.get(f"SOURCES__{source.upper()}__{key.upper()}")
    if value:
        return value
    import dlt  # third-party and heavy: only when a setting is not in the environment

    try:
        found = dlt.secrets.get(f"sources.{source}.{key}") or dlt.config.get(
            f"sources.{source}.{key}"
        )
    except Exception:  # an unreadable toml is reported by dlt at load time
        return None
    return str(found) if found else None


def from_settings(source: Source) -> dict[str, str] | None:
    if not source.settings:
        return None
    values = {k: lookup(source.name, k) for k in source.settings}
    if not all(values.values()):
        return None
    found = {k: v for k, v in values.items() if v}
    for key in source.optional:
        value = lookup(source.name, key)
        if value:
            found[key] = value
    return found


def from_sandbox(settings: Settings, source: Source) -> dict[str, Any] | None:
    state = sandbox_state(settings)
    if state is None or not source.sandbox_urls:
        return None
    urls = state.get("urls", {})
    if any(key not in urls for _, key in source.sandbox_urls):
        return None
    return {
        **{kw: urls[key] for kw, key in source.sandbox_urls},
        **state.get("credentials", {}).get(source.name, {}),
    }


def source_config(settings: Settings, name: str) -> dict[str, Any] | None:
    """Keyword arguments for the source's run(): its settings, else a running sandbox;
    None when neither (dlt then resolves them, or says which are missing)."""
    source = REGISTRY.get(name)
    if source is None:
        return None
    return from_settings(source) or from_sandbox(settings, source)


def drop_folder(settings: Settings, name: str) -> Path:
    """Where a file-import source's files are dropped."""
    return Path(settings.home).joinpath(*REGISTRY[name].drop_folder)


def pending_files(settings: Settings, name: str) -> list[Path]:
    """A file-import source's waiting files, oldest first."""
    folder = drop_folder(settings, name)
    if not folder.is_dir():
        return []
    suffixes = REGISTRY[name].file_suffixes
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def is_configured(settings: Settings, name: str) -> bool:
    """Whether a plain refresh loads this source."""
    source = REGISTRY.get(name)
    if source is None:
        return False
    if source.drop_folder:  # a step only when export files wait in the drop folder
        return bool(pending_files(settings, name))
    if from_settings(source) is not None:
        return True
    return source.sandbox_default and from_sandbox(settings, source) is not None


def configured_sources(settings: Settings) -> list[str]:
    """The sources a refresh without `--sources` loads (QBR_SOURCES narrows them)."""
    wanted = [s for s in settings.sources.split(",") if s] or list(REGISTRY)
    return [s for s in wanted if is_configured(settings, s)]
