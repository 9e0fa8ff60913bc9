"""Running one source's pipeline against the warehouse database from settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import dlt

from qbr.settings import Settings

DATASETS = {"connectwise": "raw_connectwise", "quickbooks": "raw_quickbooks"}


@dataclass
class LoadResult:
    source: str
    rows_loaded: int
    load_ids: list[str]


def make_pipeline(settings: Settings, source: str) -> dlt.Pipeline:
    for key, value in settings.tool_env().items():
        os.environ.setdefault(key, value) if key.startswith(("RUNTIME__", "DO_NOT")) else None
    dbname = settings.db_parts()["dbname"]
    return dlt.pipeline(
        pipeline_name=f"qbr_{source}",
        pipelines_dir=str(settings.home / "dlt" / str(dbname)),
        destination=dlt.destinations.postgres(credentials=settings.url),
        dataset_name=DATASETS[source],
        progress="log" if False else None,
    )


def rows_loaded(pipeline: dlt.Pipeline) -> int:
    trace = pipeline.last_trace
    if trace is None or trace.last_normalize_info is None:
        return 0
    counts = trace.last_normalize_info.row_counts
    return sum(v for k, v in counts.items() if not k.startswith("_dlt"))
