"""The dbt child process of a refresh, started ahead of its build (`DbtBuild.prestart`).

Run as a script (no qbr import): it imports dbt (about 1.5-2 s of CPU, which a
refresh hides behind its sources) and, given `--parse-vars VARS` (the JSON the
build will pass after `--vars`), parses the project with them, writing no
target/manifest.json and printing nothing. Then it waits for one line on
stdin: the `dbt` arguments as a JSON list. It runs them in this process
(`dbt.cli.main.dbtRunner`, the same click command as the `dbt` executable, so
the same flags, environment variables and console output): with the parsed
manifest when their `--vars` are those it parsed with (manifest.json is then
written at the build's start with the build's invocation id, as a plain build
writes it), else parsing as usual. It exits with the CLI's codes: 0 success,
1 a node failed, 2 dbt itself failed. End of input without a line: nothing to
build, exit 0, no artifact written.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def parse_ahead(dbt_vars: str) -> Any:
    """The project's Manifest parsed with `dbt_vars`, or None (parse failed, or the target
    folder is not known the way dbt resolves it)."""
    from dbt.cli.main import dbtRunner

    if not os.environ.get("DBT_TARGET_PATH"):
        return None
    try:
        result = dbtRunner().invoke(
            ["parse", "--vars", dbt_vars, "--no-write-json", "--log-level", "none"]
        )
    except Exception:
        return None
    return result.result if result.success else None


def build_runner(args: list[str], parse_vars: str | None, manifest: Any) -> Any:
    """A dbtRunner for `args`: given `manifest` when it was parsed with their vars."""
    from dbt.cli.main import dbtRunner

    try:
        same = args[args.index("--vars") + 1] == parse_vars
    except (ValueError, IndexError):
        same = False
    if manifest is None or not same:
        return dbtRunner()
    target = Path(os.environ.get("DBT_PROJECT_DIR", ".")) / os.environ["DBT_TARGET_PATH"]
    written = []

    def write_at_start(event: Any) -> None:
        # The first event of the invocation comes after dbt set its invocation id: the
        # manifest is written then, stamped as this build's, as a plain build writes it.
        if written:
            return
        written.append(True)
        from dbt.parser.manifest import write_manifest
        from dbt_common.invocation import get_invocation_id, get_invocation_started_at

        manifest.metadata.invocation_id = get_invocation_id()
        manifest.metadata.invocation_started_at = get_invocation_started_at()
        write_manifest(manifest, str(target))

    return dbtRunner(manifest=manifest, callbacks=[write_at_start])


def keep_connections() -> None:
    """Each dbt thread keeps its PostgreSQL connection from node to node.

    dbt closes a thread's connection after every node and opens a new one for the next
    (a server process started and authenticated per node: ~115 nodes in a data-only
    build). Here a node's release ends its transaction (as closing would: rolled back
    if still open) and leaves the connection open; the next node of the thread takes it
    (dbt renames a thread's open connection), and dbt closes them all at its end. Off
    with `QBR_DBT_KEEP_CONNECTIONS=0`."""
    if os.environ.get("QBR_DBT_KEEP_CONNECTIONS", "1") == "0":
        return
    from dbt.adapters.contracts.connection import ConnectionState
    from dbt.adapters.postgres.connections import PostgresConnectionManager

    def release(self: Any) -> None:
        with self.lock:
            conn = self.get_if_exists()
        if conn is None or conn.state != ConnectionState.OPEN:
            return
        try:
            handle = conn.handle  # psycopg2: transaction status 0 is idle
            if not handle.closed and handle.get_transaction_status() != 0:
                handle.rollback()  # what closing would do to an open transaction
            conn.transaction_open = False
            if handle.closed or handle.get_transaction_status() != 0:
                self.close(conn)  # (not idle after all: closed as dbt would)
        except Exception:
            self.clear_thread_connection()
            raise

    PostgresConnectionManager.release = release  # type: ignore[method-assign]


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # each line reaches the refresh as printed
    import dbt.adapters.postgres  # noqa: F401
    import dbt.task.build  # noqa: F401
    from dbt.cli.main import dbtRunner  # noqa: F401 - the slow part, before the build is known

    keep_connections()
    parse_vars = sys.argv[2] if sys.argv[1:2] == ["--parse-vars"] else None
    manifest = parse_ahead(parse_vars) if parse_vars is not None else None

    line = sys.stdin.readline()
    if not line.strip():
        return 0
    args = [str(a) for a in json.loads(line)]
    result = build_runner(args, parse_vars, manifest).invoke(args)
    if result.success:
        return 0
    if result.exception is not None:
        print(f"Encountered an error:\n{result.exception}", flush=True)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
