"""`qbr runs [batch_id] [--limit N]`: the refresh run log, for an operator.

Lists recent runs with their steps (status, rows, duration, first line of the
error); with a batch_id, one run in full (options, errors, anomaly flags).
Runs whose process died are marked failed first (`refresh.reconcile_on_read`), so
nothing shows as running forever. `fetch_runs` / `fetch_run` return the same
data as dicts for other callers.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.rows import dict_row

from qbr import db
from qbr.errors import QbrError
from qbr.settings import Settings
from qbr.timings import format_step_timings

RUN_COLUMNS = (
    "batch_id, status, trigger, requested_by, options, progress, pid, error, anomaly_flags, "
    "created_at, started_at, finished_at"
)
STEP_COLUMNS = (
    "batch_id, step_order, name, kind, status, rows_loaded, rows_rejected, started_at, "
    "finished_at, duration_ms, error, details"
)


def _attach_steps(conn, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not runs:
        return runs
    by_id = {r["batch_id"]: r for r in runs}
    for run in runs:
        run["steps"] = []
    steps = conn.execute(
        f"select {STEP_COLUMNS} from qbr_app.refresh_steps where batch_id = any(%s) "
        "order by batch_id, step_order",
        (list(by_id),),
    ).fetchall()
    for step in steps:
        by_id[step.pop("batch_id")]["steps"].append(step)
    return runs


def fetch_runs(settings: Settings, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
    """The newest runs first, each with its steps in order."""
    with db.connect(settings, row_factory=dict_row) as conn:
        runs = conn.execute(
            f"select {RUN_COLUMNS} from qbr_app.refresh_runs "
            "order by created_at desc, batch_id desc limit %s offset %s",
            (limit, offset),
        ).fetchall()
        return _attach_steps(conn, runs)


def fetch_run(settings: Settings, batch_id: str) -> dict[str, Any] | None:
    with db.connect(settings, row_factory=dict_row) as conn:
        run = conn.execute(
            f"select {RUN_COLUMNS} from qbr_app.refresh_runs where batch_id = %s", (batch_id,)
        ).fetchone()
        return _attach_steps(conn, [run])[0] if run else None


# --- text ------------------------------------------------------------------------------------


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _elapsed_ms(started: datetime | None, finished: datetime | None) -> float | None:
    if started is None:
        return None
    end = finished or datetime.now(UTC)
    return max((end - started).total_seconds() * 1000, 0)


def _when(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _step_line(step: dict[str, Any]) -> str:
    rows = f"{step['rows_loaded']:,} rows" if step["rows_loaded"] is not None else ""
    if step["rows_rejected"]:
        rows += f" ({step['rows_rejected']:,} rejected)"
    ms = step["duration_ms"]
    if ms is None and step["status"] == "running":
        ms = _elapsed_ms(step["started_at"], None)
    line = f"    {step['name']:<14} {step['status']:<10} {rows:>22}  {_duration(ms):>8}"
    error = _first_line(step["error"])
    return f"{line}  {error}" if error else line


def _build_decision(name: str, details: dict[str, Any]) -> list[str]:
    """Why the dbt step built, fully rebuilt or skipped (qbr.dbt_runner.decide_build)."""
    if details.get("build_skipped"):
        return [f"  {name}: skipped: {details.get('skip_reason')}"]
    lines = []
    if details.get("build_reason"):
        lines.append(f"  {name}: built: {details['build_reason']}")
    if details.get("full_refresh"):
        lines.append(f"  {name}: full rebuild: {details['full_refresh']}")
    if details.get("build_mode"):
        lines.append(f"  {name}: {details['build_mode']}: {details.get('build_mode_reason')}")
    if details.get("dbt_models_run") is not None:
        kept = details.get("relations_kept") or {}
        lines.append(
            f"  {name}: ran {len(details['dbt_models_run'])} models, "
            f"{details.get('dbt_tests_run')} tests; kept {len(kept.get('views') or [])} views, "
            f"{kept.get('seeds', 0)} seeds; {details.get('dbt_tests_not_rerun', 0)} seed tests "
            "not re-run"
        )
    return lines


def _timeline(run: dict[str, Any]) -> str:
    """When each step ran, in seconds from the run's start: sources that loaded side by
    side overlap (qbr.app.refresh.run)."""
    start = run["started_at"] or run["created_at"]
    spans = []
    for step in run["steps"]:
        if step["started_at"] is None or start is None:
            continue
        begin = (step["started_at"] - start).total_seconds()
        end = f"{(step['finished_at'] - start).total_seconds():.1f}" if step["finished_at"] else ""
        spans.append(f"{step['name']} {begin:.1f}-{end or 'running'}")
    return "  steps ran (s from start): " + ", ".join(spans) if spans else ""


def format_run(run: dict[str, Any], tz: ZoneInfo, full: bool = False) -> list[str]:
    who = run["trigger"] + (f" ({run['requested_by']})" if run["requested_by"] else "")
    ms = _elapsed_ms(run["started_at"], run["finished_at"])
    progress = f"{float(run['progress']):.0f}%"
    lines = [
        f"{run['batch_id']}  {run['status']:<9}  {progress:>4}  "
        f"{_when(run['started_at'] or run['created_at'], tz)}  {_duration(ms):>8}  {who}"
    ]
    lines += [_step_line(step) for step in run["steps"]]
    flags = run["anomaly_flags"] or []
    if full:
        options = run["options"] or {}
        lines.append(
            "  options: "
            + ", ".join(
                f"{k}={v}"
                for k, v in options.items()
                if k in ("sources", "since", "full", "dbt_vars") and v not in (None, False)
            )
        )
        lines.append(
            f"  created {_when(run['created_at'], tz)}, started {_when(run['started_at'], tz)}, "
            f"finished {_when(run['finished_at'], tz)}, pid {run['pid'] or '-'}"
        )
        if options.get("log_file"):
            lines.append(f"  log: {options['log_file']}")
        timeline = _timeline(run)
        if timeline:
            lines.append(timeline)
        for step in run["steps"]:
            if step["error"] and "\n" in step["error"].strip():
                lines.append(f"  {step['name']} error:")
                lines += ["    " + x for x in step["error"].strip().splitlines()[:40]]
            details = step["details"] or {}
            warning = details.get("warning")
            if warning:
                lines.append(f"  {step['name']} warning: {warning}")
            lines += _build_decision(step["name"], details)
            lines += format_step_timings(step)
        if flags:
            lines.append(f"  anomaly flags ({len(flags)}):")
            lines += [
                f"    - [{f.get('flag')}] {f.get('period') or ''} {f.get('message')}"
                + (f"  ({f['state']})" if f.get("state") else "")
                for f in flags
            ]
        else:
            lines.append("  anomaly flags: none")
    elif flags:
        lines.append(f"    {len(flags)} anomaly flag(s): qbr runs {run['batch_id']}")
    return lines


def main(settings: Settings, args: argparse.Namespace) -> int:
    from qbr.app import refresh

    refresh.prepare_quietly(settings)
    refresh.reconcile_on_read(settings)  # a run whose process died shows as failed
    tz = ZoneInfo(settings.timezone)
    batch_id = getattr(args, "batch_id", None)
    if batch_id:
        run = fetch_run(settings, batch_id)
        if run is None:
            raise QbrError(f"No refresh run {batch_id!r}.")
        print("\n".join(format_run(run, tz, full=True)))
        return 0
    runs = fetch_runs(settings, limit=max(int(getattr(args, "limit", 10) or 10), 1))
    if not runs:
        print("No refresh runs yet: `qbr refresh` (or `make refresh`) starts one.")
        return 0
    blocks = ["\n".join(format_run(run, tz)) for run in runs]
    print("\n\n".join(blocks))
    return 0
