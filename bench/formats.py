"""Loader file formats compared: `insert_values` vs `csv` (COPY) on PostgreSQL
(`python -m bench --formats`; not part of the default run; after the
refreshes, with their QuickBooks token store: refresh tokens rotate).

For each format, ConnectWise and QuickBooks are loaded in full into a fresh
migrated database from the bench's sandbox; rows per second for the load
step alone and for the whole run (extract + normalize + load). The faster
format is the default in dlt_pipelines/constants.py (`QBR_LOADER_FILE_FORMAT`
overrides it).
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from bench import harness
from qbr import db, migrate

FORMATS = ("insert_values", "csv")


def _rows_in(pipeline: Any) -> int:
    total = 0
    with pipeline.sql_client() as client:
        for name in pipeline.default_schema.data_table_names():
            rows = client.execute_sql(
                f"select count(*) from {client.make_qualified_table_name(name)}"
            )
            total += rows[0][0]
    return total


def _load(settings: Any, fmt: str, state: dict, tokens: Any) -> dict[str, Any]:
    from dlt_pipelines.connectwise import connectwise_source
    from dlt_pipelines.quickbooks import quickbooks_source
    from dlt_pipelines.runner import make_pipeline

    creds, urls = state["credentials"], state["urls"]
    sources = {
        "connectwise": connectwise_source(base_url=urls["connectwise"], **creds["connectwise"]),
        "quickbooks": quickbooks_source(
            base_url=urls["quickbooks"],
            token_url=urls["quickbooks_token"],
            token_store=tokens,
            **creds["quickbooks"],
        ),
    }
    out = {"format": fmt, "rows": 0, "extract_s": 0.0, "normalize_s": 0.0, "load_s": 0.0}
    for step, source in sources.items():
        pipeline = make_pipeline(settings, step)
        t0 = time.perf_counter()
        pipeline.extract(source, loader_file_format=fmt)
        t1 = time.perf_counter()
        pipeline.normalize()
        t2 = time.perf_counter()
        pipeline.load()
        t3 = time.perf_counter()
        out["rows"] += _rows_in(pipeline)
        out["extract_s"] += t1 - t0
        out["normalize_s"] += t2 - t1
        out["load_s"] += t3 - t2
    whole = out["extract_s"] + out["normalize_s"] + out["load_s"]
    out["load_rows_per_s"] = round(out["rows"] / out["load_s"], 1) if out["load_s"] else 0.0
    out["whole_rows_per_s"] = round(out["rows"] / whole, 1) if whole else 0.0
    return out


def measure(ws: harness.Workspace, state: dict) -> list[dict[str, Any]]:
    from dlt_pipelines.auth import DbTokenStore
    from dlt_pipelines.quickbooks.settings import QBO_CREDENTIALS_KEY
    from dlt_pipelines.runner import pipelines_dir

    # QuickBooks refresh tokens rotate: keep using the bench's refreshes' own store
    tokens = DbTokenStore(ws.settings, QBO_CREDENTIALS_KEY)
    results = []
    for fmt in FORMATS:
        name = f"{ws.dbname}_{fmt}"
        settings = ws.settings.model_copy(
            update={"db_name": name, "database_url": ws.base.url_for(name)}
        )
        db.ensure_database(settings, name)
        try:
            migrate.upgrade(settings)
            results.append(_load(settings, fmt, state, tokens))
        finally:
            db.drop_database(ws.base, name)
            shutil.rmtree(pipelines_dir(settings), ignore_errors=True)
    return results
