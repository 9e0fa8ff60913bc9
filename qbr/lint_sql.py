"""`make lint` for SQL: sqlfluff with the dbt templater, profile from settings.

sqlfluff's dbt templater reads the relation cache from the database before
it renders a model (read-only catalog queries), so linting needs a server.
With an external QBR_DATABASE_URL that one is used; otherwise the private
cluster the tests use (`.qbr/test`, on a free port) — never the demo's
server or port — started here if needed and stopped again afterwards.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from qbr import db, embedded
from qbr.dbt_runner import DBT_PROJECT_DIR, dbt_env
from qbr.errors import QbrError
from qbr.settings import PROJECT_ROOT, Settings, get_settings

LINT_HOME = PROJECT_ROOT / ".qbr" / "test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lint_settings() -> Settings:
    configured = get_settings()
    if not configured.embedded:
        return configured
    LINT_HOME.mkdir(parents=True, exist_ok=True)
    probe = Settings(_env_file=None, home=LINT_HOME, pg_port=_free_port(), db_name="qbr_lint")
    running = embedded.status(probe)
    if running.running and running.port:
        return probe.model_copy(update={"pg_port": running.port})
    return probe


def main() -> int:
    try:
        settings = lint_settings()
        started_here = settings.embedded and not embedded.status(settings).running
        db.ensure_server(settings)
    except QbrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        db.ensure_database(settings)
        sqlfluff = Path(sys.executable).with_name("sqlfluff")
        return subprocess.call(
            [str(sqlfluff), "lint", "models", "tests", "--disable-progress-bar", "--nocolor"],
            cwd=DBT_PROJECT_DIR,
            env=dbt_env(settings),
        )
    finally:
        if started_here:
            embedded.stop(settings)


if __name__ == "__main__":
    sys.exit(main())
