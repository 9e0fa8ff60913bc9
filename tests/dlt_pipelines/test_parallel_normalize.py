"""A backfill normalizes in parallel processes (`QBR_NORMALIZE_WORKERS`, from
20,000 extracted records): the raw tables must hold exactly what one process
lands, value for value; a daily-sized run stays in one process."""

from __future__ import annotations

from typing import Any

import pytest

from dlt_pipelines import connectwise, runner
from dlt_pipelines.errors import SourceError
from sandbox.msp import CONNECTWISE_LISTS
from tests.dlt_pipelines.conftest import cw_config, query

#: every column but dlt's own per-load ids, as one comparable text per row
CONTENT = (
    "select md5(string_agg(j, '|' order by j)) from (select (to_jsonb(t) - '_dlt_id'"
    " - '_dlt_load_id' - '_dlt_root_id' - '_dlt_parent_id')::text as j from {} as t) as s"
)


def _content(settings: Any) -> dict[str, tuple]:
    tables = [r[0] for r in query(
        settings,
        "select table_name from information_schema.tables where table_schema = 'raw_connectwise'"
        " and left(table_name, 4) <> '_dlt' order by 1",
    )]  # fmt: skip
    return {
        t: (query(settings, f"select count(*) from raw_connectwise.{t}")[0][0],
            query(settings, CONTENT.format(f"raw_connectwise.{t}"))[0][0])
        for t in tables
    }  # fmt: skip


def test_parallel_normalize_lands_what_one_process_lands(
    sandbox: Any, make_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = make_database("qbr_norm1").model_copy(update={"history_start": "2025-01"})
    two = make_database("qbr_norm2").model_copy(update={"history_start": "2025-01"})
    monkeypatch.setenv(runner.NORMALIZE_WORKERS_ENV, "1")
    single = connectwise.run(one, cw_config(sandbox), full=True)
    monkeypatch.setattr(runner, "PARALLEL_NORMALIZE_MIN_ROWS", 0)
    monkeypatch.setenv(runner.NORMALIZE_WORKERS_ENV, "2")
    parallel = connectwise.run(two, cw_config(sandbox), full=True)
    assert single.details["normalize_workers"] == 1
    assert parallel.details["normalize_workers"] == 2
    landed = _content(two)
    assert landed == _content(one)
    for table, attr in CONNECTWISE_LISTS.items():
        assert landed[table][0] == len(getattr(sandbox.msp, attr)), table


def test_normalize_workers_follow_the_setting_and_the_run_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(runner.NORMALIZE_WORKERS_ENV, "3")
    assert runner.normalize_workers(runner.PARALLEL_NORMALIZE_MIN_ROWS) == 3
    assert runner.normalize_workers(runner.PARALLEL_NORMALIZE_MIN_ROWS - 1) == 1
    monkeypatch.setenv(runner.NORMALIZE_WORKERS_ENV, "two")
    with pytest.raises(SourceError, match="QBR_NORMALIZE_WORKERS must be a whole number"):
        runner.normalize_workers(10**6)
    monkeypatch.setenv(runner.NORMALIZE_WORKERS_ENV, "0")
    with pytest.raises(SourceError, match="at least 1"):
        runner.normalize_workers(10**6)
