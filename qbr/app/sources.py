"""Running a registered source: the refresh's source steps and `qbr sources`.

The registry itself (names, labels, settings, sandbox servers, whether a source
is configured) is core, `qbr.sources`, so the API can validate and plan a
refresh. Here each entry's `package` is imported and its uniform
`run(settings, config, *, full, since)` called: that package is the source.

`load(settings, name, full, since)` is what a refresh step calls; it returns
`(rows_loaded, details)` or raises `SourceError` with one line.
"""

from __future__ import annotations

import importlib
from typing import Any

from dlt_pipelines.errors import SourceError
from qbr import periods
from qbr import sources as registry
from qbr.settings import Settings


def package(name: str) -> Any:
    """The source's package (its `run`), imported by the name the registry gives."""
    source = registry.get(name)
    if source is None:
        known = ", ".join(registry.names())
        raise SourceError(f"no pipeline for source {name!r} (known: {known})")
    return importlib.import_module(source.package)


def load(
    settings: Settings, name: str, full: bool = False, since: str | None = None
) -> tuple[int, dict[str, Any]]:
    """One refresh step: load source `name` (`since`: re-read from that month, YYYY-MM)."""
    run = package(name).run
    if registry.REGISTRY[name].drop_folder:  # a file import: the files say what they hold
        result = run(settings, None, full=full, since=None)
        return result.rows_loaded, result.details
    try:
        month = periods.month_start(periods.parse_month(since, "--since")) if since else None
    except periods.PeriodError as exc:
        raise SourceError(str(exc)) from None
    result = run(settings, registry.source_config(settings, name), full=full, since=month)
    if since:
        result.details["since"] = month.isoformat() if month else None
    if full:
        result.details["full"] = True
    return result.rows_loaded, result.details


def describe(settings: Settings) -> list[dict[str, Any]]:
    """Every registered source and how it is configured now (`qbr sources`)."""
    configured = set(registry.configured_sources(settings))
    rows = []
    for source in registry.REGISTRY.values():
        if source.drop_folder:
            files = len(registry.pending_files(settings, source.name))
            how = f"{files} file(s) waiting" if files else "no files waiting"
            where = str(registry.drop_folder(settings, source.name))
        elif registry.source_config(settings, source.name) is None:
            how, where = "not configured", ""
        else:
            how = "settings" if registry.from_settings(source) else "sandbox"
            where = registry.source_config(settings, source.name).get("base_url", "")
        rows.append(
            {
                "name": source.name,
                "label": source.label,
                "loads_by_default": source.name in configured,
                "configured_by": how,
                "where": where,
                "settings": [
                    f"SOURCES__{source.name.upper()}__{k.upper()}" for k in source.settings
                ],
                "sandbox_server": source.sandbox_server,
                "package": source.package,
            }
        )
    return rows
