"""A merge package killed between a staging job's commit and dlt's record of it
is finished by the next run (found by `make chaos`, seed 698561).

dlt truncates a merge package's staging tables once, when it starts loading the
package. A job whose COPY into the staging table committed just before a SIGKILL,
but which dlt had not yet recorded as done, is run again on resume and its rows
collide with themselves on the staging table's unique `_dlt_id`. The destination
is untouched until the merge job (which runs only after every staging job of its
table chain), so `finish_pending` refills the chain's staging tables from empty
and loads the package again. Real dlt, real PostgreSQL, a real SIGKILL (in a
child process) at the exact point.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from typing import Any

import dlt
import pytest

from dlt_pipelines.runner import make_pipeline, run_source
from qbr.settings import PROJECT_ROOT
from tests.dlt_pipelines.conftest import FAST_HTTP, query, scalar, subprocess_env

TABLE, NESTED = "credit_memos", "credit_memos__line"


def n_lines(version: int, memo_id: int) -> int:
    return 1 + (memo_id + version) % 3


def memo(version: int, memo_id: int) -> dict:
    return {
        "id": str(memo_id),
        "total": version * 1000 + memo_id,
        "line": [{"n": k, "amount": version * 100 + k} for k in range(n_lines(version, memo_id))],
    }


def build(version: int, ids: range):
    """`run_source`'s build: a merge resource with a nested list, like QuickBooks'."""

    def _build(context: Any) -> Any:
        @dlt.source(name="quickbooks")
        def quickbooks() -> Any:
            @dlt.resource(name=TABLE, primary_key="id", write_disposition="merge")
            def credit_memos() -> Any:
                yield [memo(version, i) for i in ids]

            return credit_memos

        return quickbooks()

    return _build


@pytest.fixture
def warehouse(make_database: Any) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAST_HTTP.items():
            mp.setenv(key, value)
        mp.setenv("DATA_WRITER__FILE_MAX_ITEMS", "20")  # several load jobs per table
        yield make_database("qbr_resume", migrated=False)


@pytest.mark.parametrize(
    ("killed_at", "stuck"),
    [
        # a COPY into staging.credit_memos__line committed, then the kill
        ((NESTED, "csv", 2), False),
        # the same, then a plain resume failed on the collision: the state `make chaos`
        # left behind (the job back in new_jobs, its rows still in staging)
        ((NESTED, "csv", 2), True),
        # the merge job (staging -> destination) committed, then the kill: dlt runs it
        # again, which is idempotent (delete-insert in one transaction); no staging re-fill
        ((TABLE, "sql", 1), False),
    ],
    ids=["staging-job", "staging-job-then-failed-resume", "merge-job"],
)
def test_a_package_killed_after_a_jobs_commit_is_finished_by_the_next_run(
    warehouse: Any, caplog: pytest.LogCaptureFixture, killed_at: tuple, stuck: bool
):
    v1, v2, v3 = range(1, 41), range(31, 71), range(71, 76)
    run_source(warehouse, "quickbooks", build(1, v1), label="QuickBooks")

    # version 2 (30 new memos, 10 changed) extracted and normalized, then loaded by a
    # child that is SIGKILLed right after the commit of the given job
    pipeline = make_pipeline(warehouse, "quickbooks")
    pipeline.extract(build(2, v2)(None), loader_file_format="csv")
    pipeline.normalize()
    (load_id,) = pipeline.list_normalized_load_packages()
    child = subprocess.run(
        [sys.executable, "-m", "tests.dlt_pipelines.resume_kill_helper",
         *map(str, killed_at)],
        cwd=PROJECT_ROOT, env=subprocess_env(warehouse), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    merged = killed_at[1] == "sql"
    # the state the kill left: the package pending; either rows in staging and the
    # destination still at version 1, or the destination already merged
    assert scalar(warehouse, f"select count(*) from raw_quickbooks_staging.{NESTED}") > 0
    assert scalar(warehouse, f"select max(total) from raw_quickbooks.{TABLE}") == (
        2070 if merged else 1040
    )
    if stuck:  # what the product did before: resume with plain dlt, which fails
        with pytest.raises(Exception, match="violates unique constraint"):
            make_pipeline(warehouse, "quickbooks").load()
    assert make_pipeline(warehouse, "quickbooks").list_normalized_load_packages() == [load_id]

    caplog.set_level(logging.WARNING, logger="dlt_pipelines.runner")
    result = run_source(warehouse, "quickbooks", build(3, v3), label="QuickBooks")

    assert result.details["pending_loads_completed"] == 1
    repaired = f"resumed package {load_id}: staging tables re-filled" in caplog.text
    if merged:
        assert "pending_loads_repaired" not in result.details and not repaired
    else:
        assert result.details["pending_loads_repaired"] == [load_id] and repaired
    # every memo once, at its latest version (v2 overrides v1 for ids 31..40)
    latest = {i: 1 for i in v1} | {i: 2 for i in v2} | {i: 3 for i in v3}
    rows = query(warehouse, f"select id, total from raw_quickbooks.{TABLE}")
    assert len(rows) == len({r[0] for r in rows}) == 75
    assert dict(rows) == {str(i): v * 1000 + i for i, v in latest.items()}
    # and exactly the lines of that version: none lost, none doubled
    lines = query(
        warehouse,
        f"select m.id, l.n, l.amount from raw_quickbooks.{NESTED} l "
        f"join raw_quickbooks.{TABLE} m on l._dlt_root_id = m._dlt_id",
    )
    expected = sorted(
        (str(i), k, v * 100 + k) for i, v in latest.items() for k in range(n_lines(v, i))
    )
    assert sorted(lines) == expected
    assert scalar(warehouse, f"select count(*) from raw_quickbooks.{NESTED}") == len(expected)
    # the package is loaded (recorded in _dlt_loads) and nothing is left pending
    status = "select status from raw_quickbooks._dlt_loads where load_id = %s"
    assert scalar(warehouse, status, (load_id,)) == 0
    assert not make_pipeline(warehouse, "quickbooks").has_pending_data
