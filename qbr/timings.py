"""Where a refresh spends its time, kept in the run log and shown by `qbr runs <batch_id>`.

- source steps (`dlt_pipelines/runner.py`): `details.phases` (extract,
  normalize, load, deletions seconds) and, for ConnectWise,
  `details.deletion_checks` per resource (requests, pages, rows read, read
  and deletion-check seconds, how deletions were checked);
- the dbt build: `details.phases` (`qbr.app.refresh.run`) and
  `details.slow_nodes`, every node over `SLOW_NODE_S` seconds from dbt's
  `run_results.json`, slowest first.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SLOW_NODE_S = 1.0
#: The order `qbr runs <id>` shows phases in. A dbt step's "... (during sources)" /
#: "... (during dbt)" phases ran beside the others: their seconds are their own, not
#: wall time the step added.
PHASES = (
    *("extract", "normalize", "load", "deletions"),
    *("prepare (during sources)", "fingerprint", "prepare", "dbt", "fingerprint (during dbt)"),
    *("swap", "overlays"),
)


class PhaseClock:
    """Seconds of each named phase of a step (its `details.phases`): `lap(name)` adds the
    time since the last lap (or the start, or `restart()`) to `name`; `record(name, s)`
    adds a part that ran beside the others (its own seconds, not a lap)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.monotonic()

    def restart(self) -> None:
        """Start the next lap now (what came before belongs to no phase)."""
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = round(self.phases.get(name, 0.0) + now - self._last, 2)
        self._last = now

    def record(self, name: str, seconds: float) -> None:
        self.phases[name] = round(self.phases.get(name, 0.0) + seconds, 2)


def dbt_node_timings(env: dict[str, str], limit: int = 40) -> dict[str, Any]:
    """The slow nodes of the dbt invocation that just ran (its `run_results.json`
    under `DBT_TARGET_PATH`); empty when there is none."""
    target = env.get("DBT_TARGET_PATH") or os.environ.get("DBT_TARGET_PATH")
    if not target:
        return {}
    path = Path(target) / "run_results.json"
    try:
        run_results = json.loads(path.read_text())
        results = run_results.get("results") or []
    except (OSError, ValueError):
        return {}
    nodes = [
        (str(r.get("unique_id", "?")).split(".", 2)[-1], float(r.get("execution_time") or 0))
        for r in results
    ]
    slow = sorted((n for n in nodes if n[1] > SLOW_NODE_S), key=lambda n: -n[1])[:limit]
    return {
        "nodes_s": round(sum(t for _, t in nodes), 1),
        # dbt's own wall time from its first node to its last (the dbt phase less this
        # is the process start, parse and exit)
        "dbt_elapsed_s": round(float(run_results.get("elapsed_time") or 0), 1),
        "slow_nodes": {name: round(t, 1) for name, t in slow},
    }


def format_step_timings(step: dict[str, Any]) -> list[str]:
    """Indented lines for one step's timings (nothing when it recorded none)."""
    details = step.get("details") or {}
    lines: list[str] = []
    phases = details.get("phases") or {}
    if phases:  # jsonb does not keep key order: the pipeline's order
        names = sorted(phases, key=lambda k: (PHASES.index(k) if k in PHASES else len(PHASES), k))
        line = f"  {step['name']} phases: " + ", ".join(f"{k} {phases[k]:.1f}s" for k in names)
        if details.get("normalize_workers"):
            line += f" (normalize in {details['normalize_workers']} process(es))"
        lines.append(line)
    for resource, c in (details.get("deletion_checks") or {}).items():
        parts = [
            f"{c.get('requests', '?')} requests",
            f"{c.get('pages', '?')} pages",
            f"{c.get('rows_read', '?')} rows read in {c.get('read_s', 0):.1f}s",
            f"deletions: {c.get('how', '?')}",
        ]
        if "source_count" in c:
            parts.append(f"count {c['source_count']} vs live {c.get('live_after_load')}")
        if "sweep_pages" in c:
            parts.append(f"{c['sweep_pages']} sweep pages")
        if "swept_ranges" in c:
            parts.append(f"{c['swept_ranges']} id ranges swept")
        if "check_s" in c:
            parts.append(f"check {c['check_s']:.1f}s")
        lines.append(f"    {resource:<14} " + ", ".join(parts))
    slow = details.get("slow_nodes")
    if slow:
        total = details.get("nodes_s")
        head = f"  {step['name']} nodes over {SLOW_NODE_S:.0f}s"
        lines.append(head + (f" (all nodes {total:.1f}s):" if total is not None else ":"))
        lines += [f"    {name:<48} {secs:>7.1f}s" for name, secs in slow.items()]
    return lines
