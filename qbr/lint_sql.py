"""`make lint` for SQL: sqlfluff with the dbt templater, profile from settings.

The templater compiles models without touching the database, but dbt still
needs a profile to load: give it the settings-derived one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from qbr.dbt_runner import DBT_PROJECT_DIR, dbt_env
from qbr.settings import get_settings


def main() -> int:
    env = dict(os.environ)
    try:
        env.update(dbt_env(get_settings()))
    except Exception:  # no database initialised yet: lint needs none
        env.update(
            {
                "QBR_PG_HOST": "127.0.0.1",
                "QBR_PG_PORT_RESOLVED": "5432",
                "QBR_PG_USER": "lint",
                "QBR_PG_PASSWORD": "",
                "QBR_PG_DBNAME": "lint",
                "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
            }
        )
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    return subprocess.call(
        [str(sqlfluff), "lint", "models", "macros", "tests", "--disable-progress-bar", "--nocolor"],
        cwd=DBT_PROJECT_DIR,
        env=env,
    )


if __name__ == "__main__":
    sys.exit(main())
