"""`make bench`: every benchmark the project has, figures and ratios printed.

Speed targets live here, not in timed unit tests: loader formats of the
pipelines (rows/s), and API latency/throughput beside direct psycopg.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    ("pipelines: loader formats", "dlt_pipelines.bench"),
    ("api: latency and throughput", "api.bench"),
    ("dashboard: sign-in to scorecard, trends, bytes", "dashboard.bench"),
)


def main() -> int:
    failed = 0
    for title, module in BENCHMARKS:
        print(f"\n=== {title} ({module}) ===", flush=True)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError:
            print("not available yet")
            continue
        rc = mod.main() or 0
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
