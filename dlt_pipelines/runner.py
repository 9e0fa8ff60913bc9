"""Running one source's pipeline against the warehouse database from settings.

`run_source()` is what each source package's `run()` calls (the refresh reaches it through `qbr.app.sources.load`). For every source:

1. pending load packages of an earlier, interrupted run are loaded first
   (`pipeline.run()` without data), so a killed run loses nothing; a merge
   package killed between a staging job's commit and dlt's record of it has
   its unmerged staging tables re-filled from empty (`finish_pending`);
2. the source is extracted (then, in a second extract, the records its
   validation set aside), normalized and loaded; an error anywhere in the
   extract loads nothing and leaves the cursors where they were;
3. records set aside earlier whose id now loaded cleanly are marked resolved
   (`rejected_records.resolved_at`); deletions learned during the extract are
   stamped (`_deleted_at`) and the deletion checkpoints advanced, in one
   transaction (a kill before it loses nothing: the next run finds the same
   deletions again);
4. the result: rows loaded (records in the top-level tables) and details
   (per-table counts, rows_rejected, deletions, load ids).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.common.destination.client import WithStagingDataset
from dlt.common.schema.utils import get_root_table
from dlt.load.utils import _extend_tables_with_table_chain

from dlt_pipelines.constants import (
    DATASETS,
    DEFAULT_LOADER_FILE_FORMAT,
    PIPELINE_PREFIX,
)
from dlt_pipelines.deletions import Deletions, apply, ensure_id_indexes, load_checkpoints
from dlt_pipelines.errors import SourceError, one_line
from dlt_pipelines.errors import _chain as error_chain
from dlt_pipelines.quarantine import Quarantine, rejected_resource, resolve
from qbr import progress
from qbr.settings import Settings
from qbr.timings import PhaseClock

log = logging.getLogger("dlt_pipelines.runner")

LOADER_FORMAT_ENV = "QBR_LOADER_FILE_FORMAT"
NORMALIZE_WORKERS_ENV = "QBR_NORMALIZE_WORKERS"

#: dlt settings measured on a full ConnectWise backfill (bench/ingest.py, README):
#: the intermediate files stay uncompressed (gzip cost ~15 % of the CPU of extract +
#: normalize; they are deleted once loaded), and files rotate every 20k items so
#: parallel normalize workers get even shares of the two big tables
DLT_DEFAULTS = {
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "DATA_WRITER__FILE_MAX_ITEMS": "20000",
    "LOAD__DELETE_COMPLETED_JOBS": "true",
}
#: below this many extracted records one normalize process is faster than starting more
PARALLEL_NORMALIZE_MIN_ROWS = 20_000


@dataclass
class LoadResult:
    source: str
    rows_loaded: int
    details: dict[str, Any] = field(default_factory=dict)


def pipelines_dir(settings: Settings) -> str:
    dbname = settings.db_parts()["dbname"]
    return str(settings.home / "dlt" / str(dbname))


def make_pipeline(settings: Settings, step: str) -> dlt.Pipeline:
    """The pipeline of one step (`qbr_<step>`), its working folder per database."""
    for key, value in settings.tool_env().items():
        if key.startswith(("RUNTIME__", "DO_NOT")):
            os.environ.setdefault(key, value)
    for key, value in DLT_DEFAULTS.items():  # an operator's own value wins
        os.environ.setdefault(key, value)

    collector = progress.collector()  # the refresh's live counts (rows, pages), if any
    return dlt.pipeline(
        pipeline_name=f"{PIPELINE_PREFIX}{step}",
        pipelines_dir=pipelines_dir(settings),
        destination=dlt.destinations.postgres(credentials=settings.url),
        dataset_name=DATASETS[step],
        **({"progress": collector} if collector is not None else {}),
    )


def loader_file_format() -> str:
    return os.environ.get(LOADER_FORMAT_ENV) or DEFAULT_LOADER_FILE_FORMAT


def normalize_workers(rows: int) -> int:
    """dlt normalize processes for a run that extracted `rows` records:
    `QBR_NORMALIZE_WORKERS` (default: the machine's cores, at most 4), or 1
    for fewer than PARALLEL_NORMALIZE_MIN_ROWS records (a daily refresh)."""
    raw = os.environ.get(NORMALIZE_WORKERS_ENV, "").strip()
    try:
        wanted = int(raw) if raw else min(4, os.cpu_count() or 1)
    except ValueError:
        raise SourceError(
            f"{NORMALIZE_WORKERS_ENV} must be a whole number of processes, not {raw!r}"
        ) from None
    if wanted < 1:
        raise SourceError(f"{NORMALIZE_WORKERS_ENV} must be at least 1, not {wanted}")
    return 1 if rows < PARALLEL_NORMALIZE_MIN_ROWS else wanted


def known_column_types(pipeline: dlt.Pipeline) -> dict[str, dict[str, str]]:
    """{table: {column: data_type}} the raw tables already have (empty on first run)."""
    try:
        schema = pipeline.default_schema
    except Exception:  # no schema yet
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, table in schema.tables.items():
        if name.startswith("_dlt"):
            continue
        out[name] = {
            c: col["data_type"]
            for c, col in table.get("columns", {}).items()
            if col.get("data_type") and not c.startswith("_dlt")
        }
    return out


@dataclass
class PendingLoads:
    """What `finish_pending` did: packages finished, and those whose staging tables
    it had to re-fill first (their load ids)."""

    finished: int = 0
    repaired: list[str] = field(default_factory=list)


def finish_pending(pipeline: dlt.Pipeline) -> PendingLoads:
    """Load what an interrupted earlier run left behind.

    A merge package killed in the window between a staging job's commit and
    dlt's record of that job (its pending-transition marker, then the move to
    `completed_jobs`) cannot simply be resumed: dlt truncates a package's staging
    tables only once, so the job would insert its rows into staging a second time
    (the staging table's unique `_dlt_id` refuses them). Nothing of such a table chain has reached the destination yet (its
    merge job runs only after all of its staging jobs), so the chain's staging
    jobs are put back to new and its staging tables emptied before the load
    (`_refill_staging`): before the first attempt when a staging job was left
    running, and once more when a resume still fails on a unique violation in a
    staging table (e.g. an earlier repair was itself interrupted). A second
    failure raises `SourceError` as before.
    """
    done = PendingLoads()
    if not pipeline.has_pending_data:
        return done
    done.finished = len(pipeline.list_extracted_load_packages()) + len(
        pipeline.list_normalized_load_packages()
    )
    log.info("%s: finishing %d pending load package(s)", pipeline.pipeline_name, done.finished)
    try:
        for load_id in pipeline.list_normalized_load_packages():
            if _refill_staging(pipeline, load_id, only_interrupted=True):
                done.repaired.append(load_id)
        try:
            pipeline.run()
        except Exception as exc:
            failed = _staging_collision(exc)
            if failed is None or not _refill_staging(pipeline, failed[0], table=failed[1]):
                raise
            if failed[0] not in done.repaired:
                done.repaired.append(failed[0])
            pipeline.run()
    except Exception as exc:
        raise SourceError(
            f"a load left pending by an earlier run cannot be finished ({one_line(exc)}); "
            f"inspect it with `dlt pipeline --pipelines-dir {pipeline.pipelines_dir} "
            f"{pipeline.pipeline_name} info`, or give it up with `... abort-packages`"
        ) from exc
    return done


def _staging_collision(exc: BaseException) -> tuple[str, str] | None:
    """(load id, table) when a load failed because a job's rows were already in
    its table (PostgreSQL unique_violation, 23505); None for any other failure."""
    chain = error_chain(exc)
    unique = any(
        getattr(item, "pgcode", None) == "23505"
        or "violates unique constraint" in str(getattr(item, "failed_message", None) or item)
        for item in chain
    )
    if not unique:
        return None
    for item in chain:
        load_id, job_id = getattr(item, "load_id", None), getattr(item, "job_id", None)
        if isinstance(load_id, str) and isinstance(job_id, str):
            return load_id, job_id.split(".")[0]  # job id: <table>.<file id>.<format>
    return None


def _refill_staging(
    pipeline: dlt.Pipeline,
    load_id: str,
    *,
    only_interrupted: bool = False,
    table: str | None = None,
) -> bool:
    """Put the staging jobs of a pending package back to new and empty their staging
    tables, for every table chain of it whose merge (followup) job does not exist yet
    - so nothing of it has reached the destination. With `only_interrupted`, only
    when a staging job was left started without a recorded outcome; with `table`,
    only when that table is one of those chains. True when something was reset.

    The jobs move first, then the tables are emptied: a kill in between leaves
    jobs that collide again (and are repaired again), never a filled-in chain
    whose staging tables were emptied under its completed jobs.
    """
    storage = pipeline._get_load_storage()  # dlt's own package storage of this pipeline
    packages = storage.normalized_packages
    if load_id not in packages.list_packages() or packages.has_abort_flag(load_id):
        return False  # (an abort an operator asked for is dlt's to finish)
    schema = packages.load_schema(load_id)
    jobs = packages.list_all_jobs_with_states(load_id)
    client = pipeline._get_destination_clients(schema)[0]
    if not isinstance(client, WithStagingDataset):
        return False

    def root(name: str) -> str:
        return str(get_root_table(schema.tables, name)["name"])

    followed = {root(job.table_name) for _, job in jobs if job.file_format == "sql"}
    chains = {
        root(job.table_name)
        for _, job in jobs
        if job.file_format != "sql"
        and job.table_name in schema.tables
        and client.should_load_data_to_staging_dataset(job.table_name)
    } - followed
    if only_interrupted:
        chains &= {
            root(job.table_name)
            for state, job in jobs
            if state == "started_jobs"
            and packages.load_pending_transition(load_id, job.file_name()) is None
        }
    if table is not None:
        chains &= {root(table)} if table in schema.tables else set()
    if not chains:
        return False
    reset = [(s, j) for s, j in jobs if j.file_format != "sql" and root(j.table_name) in chains]
    for state, job in reset:
        name = job.file_name()
        if state == "started_jobs":
            packages.retry_job(load_id, name, "re-run from empty staging tables", "transient")
            packages.clear_pending_transition(load_id, name)
        elif state == "failed_jobs":
            packages.retry_failed_job(load_id, name)
        elif state == "completed_jobs":
            packages._move_job(load_id, "completed_jobs", "new_jobs", name)
    with_jobs = {job.table_name for _, job in reset}
    tables = sorted(
        _extend_tables_with_table_chain(
            schema, with_jobs, with_jobs, client.should_load_data_to_staging_dataset
        )
    )
    with client, client.with_staging_dataset():
        client.initialize_storage(truncate_tables=tables)
    log.warning(
        "%s: resumed package %s: staging tables re-filled after an interrupted job "
        "(%d job(s) of %s re-run from empty staging tables)",
        pipeline.pipeline_name,
        load_id,
        len(reset),
        ", ".join(sorted(chains)),
    )
    return True


def extracted_counts(info: Any) -> dict[str, int]:
    """Records per top-level table from an `ExtractInfo` (after incremental dedup).
    (Not the normalize step's row counts: with `csv` dlt counts cells there.)"""
    counts: dict[str, int] = {}
    for load_id in info.loads_ids:
        for metrics in info.metrics.get(load_id, []):
            for table, m in metrics["table_metrics"].items():
                if not table.startswith("_dlt"):
                    counts[table] = counts.get(table, 0) + m.items_count
    return counts


def child_counts(pipeline: dlt.Pipeline, load_ids: list[str]) -> dict[str, int]:
    """Rows the given loads wrote into nested tables (joined to their root rows)."""
    schema = pipeline.default_schema
    out: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for name, table in schema.tables.items():
            parent = table.get("parent")
            if not parent or name.startswith("_dlt"):
                continue
            root = parent
            while schema.tables[root].get("parent"):
                root = schema.tables[root]["parent"]
            query = (
                f"select count(*) from {client.make_qualified_table_name(name)} as c "
                f"join {client.make_qualified_table_name(root)} as r "
                "on c._dlt_root_id = r._dlt_id where r._dlt_load_id = any(%s)"
            )
            try:
                rows = client.execute_sql(query, list(load_ids))
            except Exception:  # the table was never created (no rows yet)
                continue
            if rows and rows[0][0]:
                out[name] = rows[0][0]
    return out


@dataclass
class RunContext:
    """What a source's resources report back to the runner while extracting."""

    known_types: dict[str, dict[str, str]]
    deletions: Deletions = field(default_factory=Deletions)
    rejected: Quarantine = field(default_factory=Quarantine)


def run_source(
    settings: Settings,
    step: str,
    build: Callable[[RunContext], Any],
    *,
    label: str,
    file_format: str | None = None,
    after_load: Callable[[dlt.Pipeline], dict[str, Any]] | None = None,
    workers: int | None = None,
) -> LoadResult:
    """Run one source end to end. `build(context)` returns the dlt source;
    raises `SourceError` with one line on any failure. `workers` caps how many
    parallelized resources extract at once (dlt's default is 5)."""
    started = time.monotonic()
    clock = PhaseClock()  # seconds per phase, for the run log (qbr/timings.py)
    pipeline = make_pipeline(settings, step)
    fmt = file_format or loader_file_format()
    try:
        pending = finish_pending(pipeline)
        context = RunContext(
            known_types=known_column_types(pipeline),
            deletions=Deletions(url=settings.url, schema=DATASETS[step]),
        )
        # deletion checkpoints as of the last *applied* marks (see deletions.py)
        context.deletions.checkpoints_in = load_checkpoints(settings.url, DATASETS[step])
        source = build(context)
        top_tables = set(source.resources.keys())
        extract_options: dict[str, Any] = {"workers": workers} if workers else {}
        clock.restart()
        extracted = pipeline.extract(source, loader_file_format=fmt, **extract_options)
        counts = extracted_counts(extracted)
        # everything extracted: now the quarantined records, into the same schema
        if len(context.rejected):
            context.rejected.stamp(extracted.loads_ids[-1] if extracted.loads_ids else None)
            pipeline.extract(
                rejected_resource(context.rejected.rows),
                schema=pipeline.schemas[source.name],
                loader_file_format=fmt,
            )
        clock.lap("extract")
        workers_used = normalize_workers(sum(counts.values()))
        pipeline.normalize(workers=workers_used)
        clock.lap("normalize")
        info = pipeline.load()
        clock.lap("load")
    except Exception as exc:
        raise SourceError(one_line(exc, label)) from exc
    try:
        counts.update(child_counts(pipeline, extracted.loads_ids))
    except Exception:  # counting is informative only; the load itself succeeded
        log.warning("%s: could not count nested-table rows", label, exc_info=True)
    details: dict[str, Any] = {
        "tables": counts,
        "rows_rejected": len(context.rejected),
        "pending_loads_completed": pending.finished,
        "load_ids": list(info.loads_ids),
        "loader_file_format": fmt,
        "normalize_workers": workers_used,
    }
    if pending.repaired:
        details["pending_loads_repaired"] = pending.repaired
    if len(context.rejected):
        reasons: dict[str, int] = {}
        for row in context.rejected.rows:
            key = f"{row['resource']}: {row['reason'].split(':')[0]}"
            reasons[key] = reasons.get(key, 0) + 1
        details["rejected_reasons"] = reasons
    try:
        last_load = info.loads_ids[-1] if info.loads_ids else None
        resolved = resolve(settings.url, DATASETS[step], context.rejected, last_load)
        if resolved:
            details["rows_resolved"] = resolved
        clock.restart()
        indexed = ensure_id_indexes(settings.url, DATASETS[step])
        if indexed:
            details["indexes_created"] = indexed
        marks = apply(settings.url, DATASETS[step], context.deletions)
        clock.lap("deletions")
        if after_load is not None:
            details.update(after_load(pipeline))
    except Exception as exc:
        raise SourceError(
            one_line(exc, f"{label} (data loaded, then the post-load step failed)")
        ) from exc
    details["rows_marked_deleted"] = marks["marked"]
    if context.deletions.checks:
        details["deletion_checks"] = context.deletions.checks
    if marks["restored"]:
        details["rows_restored"] = marks["restored"]
    if marks["skipped"]:
        details["deletion_sweeps_skipped"] = marks["skipped"]
    details["phases"] = clock.phases
    details["duration_s"] = round(time.monotonic() - started, 2)
    details["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    rows = sum(v for k, v in counts.items() if k in top_tables)
    return LoadResult(step, rows, details)
