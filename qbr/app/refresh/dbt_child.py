"""The dbt child process of a refresh, started ahead of its build (`DbtBuild.prestart`).

Run as a script (no qbr import): it imports dbt (about 1.5-2 s of CPU, which a
refresh hides behind its sources), then waits for one line on stdin: the
`dbt` arguments as a JSON list. It runs them in this process
(`dbt.cli.main.dbtRunner`, the same click command as the `dbt` executable, so
the same flags, environment variables and console output) and exits with the
CLI's codes: 0 success, 1 a node failed, 2 dbt itself failed. End of input
without a line: nothing to build, exit 0.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # each line reaches the refresh as printed
    import dbt.adapters.postgres  # noqa: F401
    import dbt.task.build  # noqa: F401
    from dbt.cli.main import dbtRunner  # the slow part, done before the build is known

    line = sys.stdin.readline()
    if not line.strip():
        return 0
    args = json.loads(line)
    result = dbtRunner().invoke([str(a) for a in args])
    if result.success:
        return 0
    if result.exception is not None:
        print(f"Encountered an error:\n{result.exception}", flush=True)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
