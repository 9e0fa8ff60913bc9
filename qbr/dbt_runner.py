"""Running dbt with the profile derived from qbr's settings.

dbt runs as a subprocess: its global state stays out of the API and refresh
processes, and a crash in a model cannot take the caller down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qbr.settings import PROJECT_ROOT, Settings, parse_stale_limits

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_env(
    settings: Settings,
    extra: dict[str, str] | None = None,
    project_dir: Path | None = None,
) -> dict[str, str]:
    """Environment for a dbt subprocess; `project_dir` (default: ours) holds profiles.yml."""
    project = Path(project_dir) if project_dir else DBT_PROJECT_DIR
    env = dict(os.environ)
    env.update(settings.tool_env())
    env["DBT_PROFILES_DIR"] = str(project)
    env["DBT_PROJECT_DIR"] = str(project)
    env.setdefault("DBT_LOG_PATH", str(settings.home / "logs" / "dbt"))
    # data_quality_flags' stale-source limits: QBR_STALE_AFTER_HOURS, as /health reads it
    default_hours, per_source = parse_stale_limits(settings.stale_after_hours)
    env["QBR_SOURCE_STALE_HOURS"] = f"{default_hours:g}"
    env["QBR_SOURCE_STALE_LIMITS"] = json.dumps(per_source)
    if project_dir:
        env["DBT_TARGET_PATH"] = str(project / "target")
    else:
        env.setdefault("DBT_TARGET_PATH", str(DBT_PROJECT_DIR / "target"))
    if extra:
        env.update(extra)
    return env


def run(
    settings: Settings,
    args: list[str],
    *,
    capture: bool = True,
    extra_env: dict[str, str] | None = None,
    timeout: float | None = None,
    project_dir: Path | None = None,
) -> subprocess.CompletedProcess:
    (settings.home / "logs" / "dbt").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [dbt_executable(), *args],
        cwd=Path(project_dir) if project_dir else DBT_PROJECT_DIR,
        env=dbt_env(settings, extra_env, project_dir),
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli(settings: Settings, args: list[str]) -> int:
    return run(settings, args, capture=False).returncode
