"""`make bench` (`python -m bench [--preset demo|large|small]`): the refresh cost,
its floors and the API, side by side, in one run on a throwaway database, home
and sandbox of its own. See bench/__init__.py for what it measures and how.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import api, dashboard, floor, formats, harness, ingest, refresh, report
from bench.app import enter_manual_history
from sandbox import cli as sandbox_cli
from sandbox.msp import PRESETS

RESULTS = Path(__file__).parent / "results.json"


def _step(run: dict, name: str) -> dict:
    if name in run["steps"]:
        return run["steps"][name]
    return next((s for n, s in run["steps"].items() if name in n), {})


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _say(text: str) -> None:
    print(text, flush=True)


def _child(ws: harness.Workspace, what: str, *args: str) -> harness.Finished:
    done = harness.run_child(harness.python_module(*args), ws.env, harness.whole_tree(what))
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.output[-3000:]}")
    return done


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"preset": args.preset, "seed": args.seed}
    results["machine_start"] = harness.machine()
    preset = PRESETS[args.preset]
    with harness.workspace(preset=args.preset) as ws:
        _say(
            f"bench: preset {args.preset!r} ({preset.clients} clients, {preset.endpoints:,} "
            f"endpoints, {preset.months} months), database {ws.dbname}, "
            f"{results['machine_start']['cores']} cores, load "
            f"{'/'.join(str(v) for v in results['machine_start']['load_avg'].values())}"
        )
        state = sandbox_cli.up(
            preset=args.preset,
            seed=args.seed,
            host="127.0.0.1",
            base_port=ws.ports["sandbox"],
            state_dir=ws.home,
            timeout=1800,
        )
        sandbox_pid = state["pid"]
        rss: dict[str, Any] = {"sandbox_after_up": harness.peak_rss_mb(sandbox_pid)}
        try:
            results["sandbox_counts"] = sandbox_cli.status(ws.home).get("counts")
            _say("inventory: writing all of history ...")
            inv = _child(ws, "inventory", *_inventory_args(ws, args))
            results["inventory_full"] = {"seconds": round(inv.seconds, 2), **inv.peaks_mb}

            _say("full backfill: qbr refresh --full ...")
            runs = {"full backfill": refresh.run(ws, "--full")}
            rss["sandbox_after_full"] = harness.peak_rss_mb(sandbox_pid)

            _say("SQL floor of the dbt build ...")
            results["floor_sql"] = floor.measure(ws.settings)
            _say("fetch + COPY floor of ConnectWise ingestion ...")
            results["ingest_floor"] = ingest.measure(state, ws.settings.url)

            days: list[dict[str, Any]] = []
            for day in range(1, args.days + 1):
                _say(
                    f"day {day}/{args.days}: sandbox advance 1 day, its inventory, qbr refresh ..."
                )
                results["advance"] = sandbox_cli.advance(ws.home, 1)
                inv = _child(
                    ws,
                    "inventory",
                    *_inventory_args(ws, args),
                    "--advance",
                    str(day),
                    "--new-days",
                    "1",
                )
                results["inventory_one_day"] = {"seconds": round(inv.seconds, 2), **inv.peaks_mb}
                rss["sandbox_after_advance"] = harness.peak_rss_mb(sandbox_pid)
                days.append(refresh.run(ws))
            runs["one-day"] = median_run(days)
            results["one_day_runs"] = [
                {k: d.get(k) for k in ("batch_id", "seconds", "wall_s", "status")} for d in days
            ]
            _say("no-change refresh: qbr refresh ...")
            runs["no-change"] = refresh.run(ws)
            results["refresh"] = runs

            enter_manual_history(ws.settings, preset.technicians, preset.clients)
            _say(f"API: {api.CLIENTS} concurrent clients, cache on / off, direct psycopg ...")
            on_server = None
            if not args.no_dashboard:
                on_server = lambda url, key: dashboard.measure(url, key)  # noqa: E731
            results["api"] = api.measure(ws, args.seconds, on_server)
            if args.formats:
                _say("loader formats (insert_values vs csv) ...")
                results["formats"] = formats.measure(ws, state)
            rss["sandbox_peak"] = harness.peak_rss_mb(sandbox_pid)
            results["sandbox_rss_mb"] = {k: v and round(v, 1) for k, v in rss.items()}
        finally:
            sandbox_cli.down(ws.home)
    results["machine_end"] = harness.machine()
    results["targets"] = report.check_targets(_target_figures(results))
    return results


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median length (the lower middle one of an even count): every one-day
    refresh does the same work, so the median says what a day costs, not the noise of one
    run on a shared machine. A failed run counts as the longest."""
    ranked = sorted(
        runs,
        key=lambda r: (r.get("status") != "succeeded", r.get("seconds") or float("inf")),
    )
    return ranked[(len(ranked) - 1) // 2]


def _inventory_args(ws: harness.Workspace, args: argparse.Namespace) -> list[str]:
    return [
        "bench.inventory",
        ws.settings.url,
        ws.settings.inventory_schema,
        "--preset",
        args.preset,
        "--seed",
        str(args.seed),
    ]


def _ingest_rate(run: dict) -> tuple[int | None, float | None]:
    cw = _step(run, "connectwise")
    phases = cw.get("phases") or {}
    seconds = sum(phases.get(p, 0.0) for p in ("extract", "normalize", "load")) or cw.get("seconds")
    return cw.get("rows"), seconds


def _target_figures(r: dict) -> dict[str, float | None]:
    runs = r["refresh"]
    full, day, idle = runs["full backfill"], runs["one-day"], runs["no-change"]
    rows, seconds = _ingest_rate(full)
    api_r = r["api"]
    dash = api_r.get("dashboard") or {}
    return {
        "one_day_vs_full": _div(day["seconds"], full["seconds"]),
        "no_change_vs_full": _div(idle["seconds"], full["seconds"]),
        "dbt_vs_floor": _div(_step(day, "dbt").get("seconds"), r["floor_sql"]["seconds"]),
        "ingest_vs_floor": _div(_div(rows, seconds), r["ingest_floor"]["rows_per_s"]),
        "api_off_vs_direct": _div(api_r["cache_off"]["rps"], api_r["direct"]["rps"]),
        "api_off_p99_ms": api_r["cache_off"]["p99_ms"],
        "api_on_p99_ms": api_r["cache_on"]["p99_ms"],
        "scorecard_s": (dash.get("scorecard_s") or {}).get("worst"),
        "trends_s": (dash.get("trends_s") or {}).get("worst"),
        "scorecard_kb": (dash.get("scorecard_kb") or {}).get("worst"),
    }


def print_report(r: dict) -> None:
    m0, m1 = r["machine_start"], r["machine_end"]
    load = lambda m: "/".join(f"{v:.2f}" for v in m["load_avg"].values())  # noqa: E731
    _say("")
    _say(
        f"=== bench, preset {r['preset']}: {m0['cores']} cores, load (1/5/15 min) "
        f"{load(m0)} at start, {load(m1)} at end ==="
    )
    _say("")
    _say("Refresh (figures from the run log; ratio to the full backfill in brackets)")
    for line in report.refresh_table(r["refresh"]):
        _say("  " + line)
    full, day, idle = (r["refresh"][k] for k in ("full backfill", "one-day", "no-change"))
    _say("  run log: " + ", ".join(f"qbr runs {r['batch_id']}" for r in (full, day, idle)))
    days = r.get("one_day_runs") or []
    if len(days) > 1:
        each = ", ".join(_fmt_s(d["seconds"]) for d in days)
        _say(
            f"  one-day: {len(days)} refreshes, each after a new day ({each}); the column "
            f"and its ratio are the median run, {day['batch_id']}"
        )
    _say(
        f"  inventory writer: all history {r['inventory_full']['seconds']:.1f}s "
        f"({r['inventory_full'].get('inventory', 0):,.0f} MB peak), one new day "
        f"{r['inventory_one_day']['seconds']:.1f}s "
        f"({r['inventory_one_day'].get('inventory', 0):,.0f} MB peak)"
    )

    f = r["floor_sql"]
    _say("")
    _say("dbt vs the SQL floor (bench/floor.sql: the monthly operations numbers)")
    _say(
        f"  SQL floor {f['seconds']:.2f}s (median of {len(f['runs_s'])}); "
        f"floor matches mart: {'yes' if f['matches_mart'] else 'no'} "
        f"({f['mart_values_compared']} collected values compared)"
    )
    for line in f["mismatches"][:5]:
        _say(f"    mismatch: {line}")
    for name, run_ in (("full", full), ("one-day (incremental)", day), ("no-change", idle)):
        dbt = _step(run_, "dbt")
        secs = dbt.get("seconds")
        ratio = f" = {secs / f['seconds']:.1f}x the floor" if secs and f["seconds"] else ""
        nodes = f" (its nodes {dbt['nodes_s']:.1f}s)" if dbt.get("nodes_s") is not None else ""
        _say(f"  dbt {name:<22} {_fmt_s(secs)}{nodes}{ratio}")
    for name, run_ in (("one-day", day), ("no-change", idle)):
        for line in _slow_nodes(name, _step(run_, "dbt").get("slow_nodes") or {}):
            _say(line)

    g = r["ingest_floor"]
    rows, seconds = _ingest_rate(full)
    rate = _div(rows, seconds)
    _say("")
    _say("Ingestion (ConnectWise, full backfill) vs fetch + COPY with psycopg")
    _say(
        f"  refresh: {rows or 0:,} rows in {_fmt_s(seconds)} (extract+normalize+load) = "
        f"{rate or 0:,.0f} rows/s"
    )
    _say(
        f"  floor:   {g['rows']:,} rows, {g['pages']} pages in {g['seconds']:.1f}s = "
        f"{g['rows_per_s']:,.0f} rows/s"
    )

    a = r["api"]
    _say("")
    _say(
        f"API: {a['clients']} concurrent clients, {a['seconds_per_run']:.0f} s each, {a['gunicorn']}"
    )
    for line in report.api_table(a):
        _say("  " + line)
    dash = a.get("dashboard")
    if dash:
        _say("")
        if "error" in dash:
            _say(f"Dashboard: not measured: {dash['error']}")
        else:
            _say(f"Dashboard ({dash['runs']} fresh headless Chromium browsers, best / worst)")
            for key, label, unit in (
                ("scorecard_s", "sign-in -> rendered scorecard", "s"),
                ("trends_s", "rendered trends page", "s"),
                ("scorecard_kb", "scorecard transferred", "kB"),
                ("trends_kb", "trends transferred", "kB"),
            ):
                _say(f"  {label:<32} {dash[key]['best']:>8.2f} / {dash[key]['worst']:.2f} {unit}")

    s = r["sandbox_rss_mb"]
    _say("")
    _say("Peak RSS (VmHWM) per process")
    _say(
        f"  refresh {full['peak_rss_mb'].get('refresh', 0):,.0f} MB (full), "
        f"{day['peak_rss_mb'].get('refresh', 0):,.0f} MB (one-day); dbt "
        f"{full['peak_rss_mb'].get('dbt', 0):,.0f} MB (full), "
        f"{day['peak_rss_mb'].get('dbt', 0):,.0f} MB (one-day)"
    )
    _say(
        f"  sandbox {s.get('sandbox_peak') or 0:,.0f} MB (peak so far after up "
        f"{s.get('sandbox_after_up') or 0:,.0f}, after full {s.get('sandbox_after_full') or 0:,.0f},"
        f" after advance {s.get('sandbox_after_advance') or 0:,.0f})"
    )
    _say(
        f"  API (largest gunicorn process) {a['cache_on'].get('peak_rss_mb') or 0:,.0f} MB "
        f"cache on, {a['cache_off'].get('peak_rss_mb') or 0:,.0f} MB cache off"
    )

    if r.get("formats"):
        _say("")
        _say("Loader file formats (ConnectWise + QuickBooks, full load)")
        for x in r["formats"]:
            _say(
                f"  {x['format']:>13}: {x['rows']:,} rows, load {x['load_rows_per_s']:,.0f} "
                f"rows/s, whole run {x['whole_rows_per_s']:,.0f} rows/s"
            )

    _say("")
    _say(
        f"Targets (issue 15 item 6; the ratios are set for the large preset, this is {r['preset']})"
    )
    for line in report.targets_lines(r["targets"]):
        _say(line)


def _slow_nodes(name: str, slow: dict[str, float], top: int = 8) -> list[str]:
    """The slowest models by name; data tests (named `<test>.<hash>`) summed."""
    ranked = sorted(slow.items(), key=lambda kv: -kv[1])
    models = [(k, v) for k, v in ranked if "." not in k]
    tests = [v for k, v in ranked if "." in k]
    lines = []
    if models:
        shown = ", ".join(f"{k} {v:.1f}s" for k, v in models[:top])
        more = f" (+{len(models) - top} more)" if len(models) > top else ""
        lines.append(f"  {name} dbt models over 1 s: {shown}{more}")
    if tests:
        lines.append(f"  {name} dbt tests over 1 s: {len(tests)}, {sum(tests):.1f}s in all")
    return lines


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--preset", default=os.environ.get("BENCH_PRESET") or "demo", choices=sorted(PRESETS)
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seconds", type=float, default=10.0, help="per API load run")
    parser.add_argument(
        "--days",
        type=int,
        default=3,
        help="one-day refreshes, each after advancing the sandbox a day (the median is reported)",
    )
    parser.add_argument("--no-dashboard", action="store_true", help="skip the browser part")
    parser.add_argument("--formats", action="store_true", help="also compare loader formats")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--reprint", type=Path, metavar="JSON", help="print the report of a results file; no run"
    )
    args = parser.parse_args(argv)
    if args.reprint:
        print_report(json.loads(args.reprint.read_text()))
        return 0
    started = time.monotonic()
    results = run(args)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    print_report(results)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    _say(f"\nwritten: {args.output} ({results['bench_seconds']:.0f} s in all)")
    failed = [
        name
        for name, run_ in results["refresh"].items()
        if run_["status"] != "succeeded" or run_["exit_code"] != 0
    ]
    if failed:
        _say("refresh failed: " + ", ".join(failed))
    if not results["floor_sql"]["matches_mart"]:
        _say("the SQL floor does not reproduce the mart: its timing is no floor")
    return 1 if failed or not results["floor_sql"]["matches_mart"] else 0


if __name__ == "__main__":
    sys.exit(main())
