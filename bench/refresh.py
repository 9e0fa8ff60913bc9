"""One operator refresh (`qbr refresh [--full]`) as a child process, its figures
read back from the run log (qbr_app.refresh_runs / refresh_steps: what `qbr
runs <batch_id>` shows) rather than timed again here; only peak memory is
sampled from outside (the refresh's Python process and its dbt subprocess).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from bench import harness
from bench.app import CLI_MODULE

LATEST_RUN_SQL = """
select batch_id, status, started_at, finished_at
from qbr_app.refresh_runs
order by created_at desc, batch_id desc
limit 1
"""
STEPS_SQL = """
select name, kind, status, rows_loaded, rows_rejected, duration_ms, details
from qbr_app.refresh_steps
where batch_id = %s
order by step_order
"""


def _seconds(ms: Any) -> float | None:
    return None if ms is None else round(float(ms) / 1000, 2)


def read_run(db_url: str, batch_id: str | None = None) -> dict[str, Any]:
    """The newest run (or `batch_id`) from the run log, as figures."""
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        if batch_id:
            run = conn.execute(
                LATEST_RUN_SQL.replace("order by", "where batch_id = %s order by"), (batch_id,)
            ).fetchone()
        else:
            run = conn.execute(LATEST_RUN_SQL).fetchone()
        if run is None:
            raise RuntimeError("the refresh left no run in the run log")
        steps = conn.execute(STEPS_SQL, (run["batch_id"],)).fetchall()
    total = (run["finished_at"] - run["started_at"]).total_seconds() if run["finished_at"] else None
    out: dict[str, Any] = {
        "batch_id": run["batch_id"],
        "status": run["status"],
        "seconds": round(total, 2) if total is not None else None,
        "steps": {},
    }
    for step in steps:
        details = step["details"] or {}
        figures: dict[str, Any] = {
            "status": step["status"],
            "seconds": _seconds(step["duration_ms"]),
            "rows": step["rows_loaded"],
        }
        if details.get("phases"):
            figures["phases"] = {k: round(float(v), 2) for k, v in details["phases"].items()}
        if details.get("deletion_checks"):
            figures["deletion_checks"] = {
                name: {k: c.get(k) for k in ("how", "requests", "pages", "rows_read", "read_s")}
                for name, c in details["deletion_checks"].items()
            }
        if "nodes_s" in details:  # the dbt build (qbr/timings.py)
            figures["nodes_s"] = details["nodes_s"]
            figures["slow_nodes"] = details.get("slow_nodes") or {}
        out["steps"][step["name"]] = figures
    return out


def run(ws: harness.Workspace, *args: str) -> dict[str, Any]:
    """`qbr refresh *args` to the end; the run log's figures plus peak memory."""
    finished = harness.run_child(
        harness.python_module(CLI_MODULE, "refresh", *args), ws.env, harness.refresh_or_dbt
    )
    figures = read_run(ws.settings.url)
    figures["wall_s"] = round(finished.seconds, 2)
    figures["exit_code"] = finished.returncode
    figures["peak_rss_mb"] = finished.peaks_mb
    if finished.returncode not in (0,):
        figures["output_tail"] = finished.output.strip().splitlines()[-15:]
    return figures
