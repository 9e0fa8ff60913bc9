"""Loader file formats compared: `insert_values` vs `csv` (COPY) on PostgreSQL.

    python -m dlt_pipelines.bench [--preset demo] [--repeat 1]     (make bench)

Starts the sandbox, then for each format loads ConnectWise and QuickBooks in
full into a fresh throwaway database on the configured server (the embedded
one by default) and prints rows per second for the load step alone and for
the whole run (extract + normalize + load). The faster format is the
default in dlt_pipelines/constants.py (`QBR_LOADER_FILE_FORMAT` overrides it).
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

FORMATS = ("insert_values", "csv")


@dataclass
class Figures:
    fmt: str
    rows: int
    extract_s: float
    normalize_s: float
    load_s: float

    @property
    def total_s(self) -> float:
        return self.extract_s + self.normalize_s + self.load_s

    def line(self) -> str:
        return (
            f"{self.fmt:>13}: {self.rows} rows  load {self.rows / self.load_s:,.0f} rows/s "
            f"({self.load_s:.2f} s)  whole run {self.rows / self.total_s:,.0f} rows/s "
            f"({self.total_s:.2f} s: extract {self.extract_s:.2f}, "
            f"normalize {self.normalize_s:.2f}, load {self.load_s:.2f})"
        )


def _measure(settings: Any, fmt: str, sandbox: Any) -> Figures:
    from dlt_pipelines.auth import MemoryTokenStore
    from dlt_pipelines.connectwise import connectwise_source
    from dlt_pipelines.quickbooks import quickbooks_source
    from dlt_pipelines.runner import make_pipeline

    creds = sandbox.credentials
    sources = {
        "connectwise": connectwise_source(
            base_url=sandbox.urls["connectwise"], **creds["connectwise"]
        ),
        "quickbooks": quickbooks_source(
            base_url=sandbox.urls["quickbooks"],
            token_url=sandbox.urls["quickbooks_token"],
            token_store=MemoryTokenStore(),
            **{**creds["quickbooks"], "refresh_token": sandbox.qbo_tokens.latest_refresh_token},
        ),
    }
    figures = Figures(fmt, 0, 0.0, 0.0, 0.0)
    for step, source in sources.items():
        pipeline = make_pipeline(settings, step)
        started = time.perf_counter()
        pipeline.extract(source, loader_file_format=fmt)
        extracted = time.perf_counter()
        pipeline.normalize()
        normalized = time.perf_counter()
        pipeline.load()
        loaded = time.perf_counter()
        figures.rows += _rows_in(pipeline)
        figures.extract_s += extracted - started
        figures.normalize_s += normalized - extracted
        figures.load_s += loaded - normalized
    return figures


def _rows_in(pipeline: Any) -> int:
    """Rows now in the (fresh) dataset's tables: exact whatever the format."""
    total = 0
    with pipeline.sql_client() as client:
        for name in pipeline.default_schema.data_table_names():
            rows = client.execute_sql(
                f"select count(*) from {client.make_qualified_table_name(name)}"
            )
            total += rows[0][0]
    return total


def run(preset: str = "demo", repeat: int = 1) -> list[Figures]:
    from qbr import db, migrate
    from qbr.settings import get_settings
    from sandbox.msp import generate
    from sandbox.servers.runner import Sandbox

    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    base = get_settings()
    db.ensure_server(base)
    results: list[Figures] = []
    with Sandbox(generate(preset, seed=42)) as sandbox:
        for _ in range(repeat):
            for fmt in FORMATS:
                name = f"qbr_bench_{fmt}_{secrets.token_hex(3)}"
                settings = base.model_copy(update={"db_name": name})
                if settings.database_url:
                    settings = settings.model_copy(update={"database_url": settings.url_for(name)})
                db.ensure_database(settings, name)
                try:
                    migrate.upgrade(settings)
                    results.append(_measure(settings, fmt, sandbox))
                finally:
                    db.drop_database(base, name)
                    import shutil

                    from dlt_pipelines.runner import pipelines_dir

                    shutil.rmtree(pipelines_dir(settings), ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="insert_values vs csv loader formats")
    parser.add_argument("--preset", default="demo", choices=["small", "demo", "large"])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv if argv is not None else [])  # main(): the defaults
    results = run(args.preset, args.repeat)
    print(f"loader file formats, {args.preset} preset (ConnectWise + QuickBooks, full load):")
    for figures in results:
        print(figures.line())
    best: dict[str, float] = {}
    for figures in results:
        best[figures.fmt] = max(best.get(figures.fmt, 0.0), figures.rows / figures.load_s)
    winner = max(best, key=best.__getitem__)
    print(f"faster load: {winner}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
