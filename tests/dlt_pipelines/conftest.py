"""Pipeline tests run over real HTTP against the sandbox, into throwaway databases.

Every module gets its own sandbox (the `small` preset, a fixed date so runs are
repeatable) and its own database; tests inside a module build on each other
(full load, then changes, then faults), so they run in file order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg
import pytest
import requests

from qbr.settings import Settings
from sandbox.msp import generate
from sandbox.servers.runner import Sandbox

#: the sandbox's "today" in every pipeline test
TODAY = date(2026, 10, 15)

#: fast retries: the faults fire once or twice, and Retry-After is 1 s
FAST_HTTP = {
    "RUNTIME__REQUEST_MAX_ATTEMPTS": "4",
    "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.02",
    "RUNTIME__REQUEST_MAX_RETRY_DELAY": "2",
    "RUNTIME__REQUEST_TIMEOUT": "5",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
}


@pytest.fixture(scope="module")
def fast_http() -> Iterator[dict[str, str]]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAST_HTTP.items():
            mp.setenv(key, value)
        yield dict(FAST_HTTP)


@pytest.fixture(scope="module")
def sandbox(fast_http: dict[str, str]) -> Iterator[Sandbox]:
    with Sandbox(generate("small", seed=42, today=TODAY)) as sb:
        yield sb


@pytest.fixture(scope="module")
def warehouse(make_database: Any) -> Settings:
    """A migrated throwaway database whose history starts with the sandbox's."""
    settings = make_database("qbr_pipe")
    return settings.model_copy(update={"history_start": "2025-01"})


def cw_config(sandbox: Sandbox) -> dict[str, str]:
    return {"base_url": sandbox.urls["connectwise"], **sandbox.credentials["connectwise"]}


def qbo_config(sandbox: Sandbox) -> dict[str, str]:
    return {
        "base_url": sandbox.urls["quickbooks"],
        "token_url": sandbox.urls["quickbooks_token"],
        **sandbox.credentials["quickbooks"],
    }


def ninja_config(sandbox: Sandbox) -> dict[str, str]:
    return {"base_url": sandbox.urls["ninjaone"], **sandbox.credentials["ninjaone"]}


def query(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(settings.url) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(settings: Settings, sql: str, params: tuple = ()) -> Any:
    return query(settings, sql, params)[0][0]


def columns(settings: Settings, schema: str, table: str) -> dict[str, str]:
    return dict(
        query(
            settings,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (schema, table),
        )
    )


def subprocess_env(settings: Settings) -> dict[str, str]:
    """Environment pointing a child `python` at the same database."""
    env = dict(os.environ)
    env.update(FAST_HTTP)
    env.update(
        {
            "QBR_ENV_FILE": os.devnull,
            "QBR_HOME": str(settings.home),
            "QBR_PG_PORT": str(settings.pg_port),
            "QBR_DB_NAME": str(settings.db_parts()["dbname"]),
            "QBR_HISTORY_START": settings.history_start,
        }
    )
    if settings.database_url:
        env["QBR_DATABASE_URL"] = settings.database_url
    return env


@contextmanager
def served_report(sandbox: Sandbox, document: dict) -> Iterator[None]:
    """The sandbox answers ProfitAndLoss requests with `document` (over HTTP,
    via its loopback control API) for the duration."""
    url = sandbox.control_urls["quickbooks"] + "quickbooks/report"
    answer = requests.put(url, json=document, timeout=10)
    assert answer.status_code == 200, answer.text
    try:
        yield
    finally:
        requests.delete(url, timeout=10)
