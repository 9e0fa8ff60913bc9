"""The dbt chain on the `small` preset, built once per module into a throwaway database.

Raw data lands the way production lands it: the pipelines' own code over
real HTTP against the sandbox servers (ConnectWise, QuickBooks), and the
sandbox's inventory writer for the device snapshots. The sandbox's clock is
today (Chicago), so the warehouse's current month is the sandbox's current
month and both sides agree on which months are covered.

dbt runs through `qbr.dbt_runner.run` (profile from settings) with its own
target folder, so a test run never touches dbt_project/target.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg.types.json
import pytest

from qbr import dbt_runner
from qbr.settings import Settings

FAST_HTTP = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "4",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.02",
    "RUNTIME__REQUEST_MAX_RETRY_DELAY": "2",
    "RUNTIME__REQUEST_TIMEOUT": "10",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
}


def record_build(conn: psycopg.Connection, batch: str, details: dict[str, Any]) -> None:
    """What a succeeded refresh keeps of its dbt step: the run and the build step's details
    (its fingerprint), which the next `decide_build` compares against."""
    conn.execute(
        "insert into qbr_app.refresh_runs (batch_id, status, trigger) "
        "values (%s, 'succeeded', 'test')",
        (batch,),
    )
    conn.execute(
        "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind, status, "
        "finished_at, details) values (%s, 1, 'dbt_build', 'build', 'succeeded', now(), %s)",
        (batch, psycopg.types.json.Jsonb(details)),
    )


@dataclass
class Warehouse:
    settings: Settings
    sandbox: Any
    target: Path

    @property
    def msp(self) -> Any:
        return self.sandbox.msp

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.settings.url) as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple = ()) -> None:
        with psycopg.connect(self.settings.url) as conn:
            conn.execute(sql, params)

    def load(self) -> None:
        """Run both pipelines and write the inventory up to the sandbox's today."""
        from dlt_pipelines import connectwise, quickbooks
        from qbr.inventory import write_inventory

        sb = self.sandbox
        connectwise.run(
            self.settings, {"base_url": sb.urls["connectwise"], **sb.credentials["connectwise"]}
        )
        quickbooks.run(
            self.settings,
            {
                "base_url": sb.urls["quickbooks"],
                "token_url": sb.urls["quickbooks_token"],
                **sb.credentials["quickbooks"],
            },
        )
        write_inventory(self.settings.url, self.settings.inventory_schema, sb.msp)

    def dbt(self, *args: str, project_dir: Path | None = None) -> Any:
        extra = {
            "DBT_TARGET_PATH": str(self.target),
            "DBT_LOG_PATH": str(self.target / "logs"),
        }
        return dbt_runner.run(
            self.settings, list(args), extra_env=extra, timeout=600, project_dir=project_dir
        )

    def build(self, *args: str, project_dir: Path | None = None) -> dict:
        result = self.dbt("build", *args, project_dir=project_dir)
        assert result.returncode == 0, (result.stdout or "")[-6000:]
        return json.loads((self.target / "run_results.json").read_text())


@pytest.fixture(scope="module")
def fast_http() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAST_HTTP.items():
            mp.setenv(key, value)
        yield


@pytest.fixture(scope="module")
def warehouse(make_database: Any, fast_http: None, tmp_path_factory: Any) -> Iterator[Warehouse]:
    """Sandbox (small preset, seed 42, today) -> pipelines -> dbt build."""
    from sandbox.msp import generate
    from sandbox.servers.runner import Sandbox

    settings = make_database("qbr_dbt")
    target = tmp_path_factory.mktemp("dbt_target")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with Sandbox(generate("small", seed=42)) as sb:
        wh = Warehouse(settings, sb, target)
        wh.load()
        wh.first_build = wh.build()  # type: ignore[attr-defined]
        yield wh
