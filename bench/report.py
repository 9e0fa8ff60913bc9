"""The printed side-by-side report and the targets (issue 15 item 6) it checks."""

from __future__ import annotations

from typing import Any

from qbr.timings import PHASES

#: (name, how it is read, comparison, limit); ratios on the `large` preset
TARGETS = {
    "one_day_vs_full": ("one-day refresh / full backfill", "<=", 0.10),
    "no_change_vs_full": ("no-change refresh / full backfill", "<=", 0.05),
    "dbt_vs_floor": ("incremental dbt / SQL floor", "<=", 1.5),
    "ingest_vs_floor": ("ingestion rows/s / fetch+COPY floor", ">=", 0.5),
    "api_off_vs_direct": ("API cache off req/s / direct psycopg", ">=", 0.5),
    "api_off_p99_ms": ("API cache off p99 (ms, quiet machine)", "<", 25.0),
    "api_on_p99_ms": ("API cache on p99 (ms, quiet machine)", "<", 25.0),
    "scorecard_s": ("sign-in -> rendered scorecard (s, worst)", "<", 1.0),
    "trends_s": ("rendered trends page (s, worst)", "<", 1.5),
    "scorecard_kb": ("scorecard transferred (kB, worst)", "<", 500.0),
}


def verdict(key: str, value: float | None) -> str:
    _, op, limit = TARGETS[key]
    if value is None:
        return "not measured"
    ok = {"<=": value <= limit, ">=": value >= limit, "<": value < limit}[op]
    return "met" if ok else "MISSED"


def check_targets(figures: dict[str, float | None]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, (label, op, limit) in TARGETS.items():
        value = figures.get(key)
        out[key] = {
            "label": label,
            "value": None if value is None else round(value, 3),
            "target": f"{op} {limit:g}",
            "verdict": verdict(key, value),
        }
    return out


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}s"


def _ratio(value: float | None, full: float | None) -> str:
    if value is None or not full:
        return ""
    return f"({value / full:.2f}x)"


def _cell(value: float | None, full: float | None, first: bool) -> str:
    return f"{_s(value)} {'' if first else _ratio(value, full)}".strip()


def refresh_table(runs: dict[str, dict]) -> list[str]:
    """Total, per step and per phase, each column with its ratio to full."""
    names = list(runs)
    full = runs[names[0]]
    width = 26
    lines = [f"{'':<{width}}" + "".join(f"{n:>24}" for n in names)]

    def row(label: str, pick) -> None:
        base = pick(full)
        cells = [_cell(pick(r), base, i == 0) for i, r in enumerate(runs.values())]
        if any(c != "-" for c in cells):
            lines.append(f"{label:<{width}}" + "".join(f"{c:>24}" for c in cells))

    row("refresh (run log)", lambda r: r.get("seconds"))
    steps: list[str] = []
    for r in runs.values():
        steps += [s for s in r["steps"] if s not in steps]
    for step in steps:
        row(f"  {step}", lambda r, s=step: r["steps"].get(s, {}).get("seconds"))
        phases: list[str] = []
        for r in runs.values():
            phases += [p for p in r["steps"].get(step, {}).get("phases", {}) if p not in phases]
        phases.sort(key=lambda p: (PHASES.index(p) if p in PHASES else len(PHASES), p))
        for phase in phases:
            row(
                f"    {phase}",
                lambda r, s=step, p=phase: r["steps"].get(s, {}).get("phases", {}).get(p),
            )
    row(
        "  other (run - steps)",
        lambda r: (
            None
            if r.get("seconds") is None
            else max(r["seconds"] - sum((s.get("seconds") or 0) for s in r["steps"].values()), 0.0)
        ),
    )
    lines.append(
        f"{'rows loaded':<{width}}"
        + "".join(
            f"{sum((s.get('rows') or 0) for s in r['steps'].values()):>24,}" for r in runs.values()
        )
    )
    lines.append(f"{'status':<{width}}" + "".join(f"{r['status']:>24}" for r in runs.values()))
    for proc in ("refresh", "dbt"):
        lines.append(
            f"{'peak RSS ' + proc:<{width}}"
            + "".join(
                f"{(r.get('peak_rss_mb') or {}).get(proc, 0):>21,.0f} MB" for r in runs.values()
            )
        )
    return lines


def api_table(api: dict) -> list[str]:
    """Throughput and latency, and the CPU each request cost the serving side (API
    workers, or the direct client) and the database: what bounds the API beside direct."""
    lines = [
        f"{'':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'peak RSS':>12}"
        f"{'CPU/req app+db ms':>20}"
    ]
    for name in ("cache_on", "cache_off", "direct"):
        r = api.get(name)
        if not r:
            continue
        rss = f"{r['peak_rss_mb']:,.0f} MB" if r.get("peak_rss_mb") else ""
        cpu = r.get("cpu_per_request") or {}
        cpu_s = (
            f"{cpu['app_ms']:.2f}+{cpu['database_ms']:.2f}"
            if cpu.get("app_ms") is not None and cpu.get("database_ms") is not None
            else ""
        )
        lines.append(
            f"{name:<12}{r['rps']:>10,.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
            f"{r['errors']:>8}{rss:>12}{cpu_s:>20}"
        )
    return lines


def targets_lines(targets: dict[str, dict]) -> list[str]:
    lines = []
    for t in targets.values():
        value = "-" if t["value"] is None else f"{t['value']:,.3g}"
        lines.append(f"  {t['label']:<44} {value:>10}   target {t['target']:<8} {t['verdict']}")
    return lines
