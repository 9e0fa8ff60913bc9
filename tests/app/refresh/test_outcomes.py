"""A refresh's outcomes and what they do to the marts and the run log (stand-in dbt project)."""

from __future__ import annotations

import re
import threading
from collections import Counter

import psycopg
import pytest

from qbr.app import refresh
from tests.app.refresh.conftest import query


def run(settings, project, **kwargs):
    kwargs.setdefault("sources", [])
    return refresh.run_refresh(settings, trigger="test", echo=False, project_dir=project, **kwargs)


def steps_of(settings, batch_id):
    return query(
        settings,
        "select name, kind, status, rows_loaded, rows_rejected, duration_ms is not null, "
        "split_part(coalesce(error, ''), E'\\n', 1) "
        "from qbr_app.refresh_steps where batch_id = %s order by step_order",
        (batch_id,),
    )


def marts(settings):
    return query(settings, "select row_count, version from qbr.mart_summary")


def scratch_schemas(settings):
    return query(
        settings,
        "select nspname from pg_namespace where nspname in ('qbr__build', 'qbr__old')",
    )


def test_succeeded_run_records_every_step_and_swaps_in_the_marts(
    rdb, standin_project, fake_sources
):
    calls = []
    fake_sources["connectwise"] = lambda full, since: calls.append((full, since)) or (120, {})
    fake_sources["quickbooks"] = lambda full, since: (30, {"rows_rejected": 2})

    result = run(rdb, standin_project, sources=["connectwise", "quickbooks"], since="2025-01")

    assert result.status == "succeeded"
    assert re.fullmatch(r"bc_[0-9A-Z]{26}", result.batch_id)
    assert calls == [(False, "2025-01")]
    assert steps_of(rdb, result.batch_id) == [
        ("connectwise", "source", "succeeded", 120, None, True, ""),
        ("quickbooks", "source", "succeeded", 30, 2, True, ""),
        ("dbt_build", "build", "succeeded", None, None, True, ""),
    ]
    [(status, progress, error, ordered, trigger, options)] = query(
        rdb,
        "select status, progress, error, started_at <= finished_at, trigger, options "
        "from qbr_app.refresh_runs where batch_id = %s",
        (result.batch_id,),
    )
    assert (status, float(progress), error, ordered, trigger) == (
        "succeeded",
        100.0,
        None,
        True,
        "test",
    )
    assert options["sources"] == ["connectwise", "quickbooks"] and options["since"] == "2025-01"
    assert marts(rdb) == [(3, "v1")]
    assert scratch_schemas(rdb) == []
    [(details,)] = query(rdb, "select details from qbr_app.refresh_steps where name = 'dbt_build'")
    assert details["swap"] == "swapped" and details["nodes"] == 6
    if query(rdb, "select 1 from pg_roles where rolname = 'qbr_api'"):  # re-granted after swap
        assert query(
            rdb, "select has_table_privilege('qbr_api', 'qbr.mart_summary', 'select')"
        ) == [(True,)]
    # issue 12: anomaly flags come only from dbt's data_quality_flags (this stand-in has
    # none); the 2 rejected records are on the step (rows_rejected above), not a flag.
    assert result.anomaly_flags == []


def test_partial_run_builds_and_keeps_the_failed_sources_last_good_load(
    rdb, standin_project, fake_sources
):
    fake_sources["connectwise"] = lambda full, since: (10, {})
    fake_sources["quickbooks"] = lambda full, since: (5, {})
    first = run(rdb, standin_project, sources=["connectwise", "quickbooks"])
    assert first.status == "succeeded"

    def broken(full, since):
        raise RuntimeError("QuickBooks answered HTTP 500 after 5 attempts\nresponse body ...")

    fake_sources["quickbooks"] = broken
    second = run(
        rdb, standin_project, sources=["connectwise", "quickbooks"], dbt_vars={"version": "v2"}
    )

    assert second.status == "partial"
    assert [s[:3] for s in steps_of(rdb, second.batch_id)] == [
        ("connectwise", "source", "succeeded"),
        ("quickbooks", "source", "failed"),
        ("dbt_build", "build", "succeeded"),
    ]
    assert steps_of(rdb, second.batch_id)[1][6] == "QuickBooks answered HTTP 500 after 5 attempts"
    assert second.error == "quickbooks: QuickBooks answered HTTP 500 after 5 attempts"
    assert marts(rdb) == [(3, "v2")]  # the build ran on what the other sources loaded

    finished = dict(
        query(
            rdb,
            "select batch_id || ':' || name, finished_at from qbr_app.refresh_steps "
            "where kind = 'source'",
        )
    )
    good = refresh.last_good_load(rdb)
    assert good["quickbooks"] == finished[f"{first.batch_id}:quickbooks"]
    assert good["connectwise"] == finished[f"{second.batch_id}:connectwise"]
    [row] = query(
        rdb,
        "select last_good_batch_id, last_attempt_batch_id, last_attempt_status, last_error "
        "from qbr_app.source_freshness where source = 'quickbooks'",
    )
    assert row == (
        first.batch_id,
        second.batch_id,
        "failed",
        "QuickBooks answered HTTP 500 after 5 attempts",
    )


def test_unknown_source_fails_its_step_only(rdb, standin_project):
    """The real loader refuses a source it has no pipeline for: the run is partial."""
    result = run(rdb, standin_project, sources=["no_such_source"])
    assert result.status == "partial"
    [source_step, build_step] = steps_of(rdb, result.batch_id)
    assert source_step[:3] == ("no_such_source", "source", "failed") and source_step[6]
    assert build_step[2] == "succeeded"


def test_failed_test_keeps_the_previous_marts(rdb, standin_project, fake_sources):
    fake_sources["connectwise"] = lambda full, since: (10, {})
    assert run(rdb, standin_project).status == "succeeded"

    result = run(
        rdb,
        standin_project,
        sources=["connectwise"],
        dbt_vars={"version": "v2", "rows": 5, "fail_test": True},
    )

    assert result.status == "failed"
    build = steps_of(rdb, result.batch_id)[-1]
    assert build[2] == "failed"
    assert (
        build[6]
        == "dbt build failed: Failure in test fails_when_asked (tests/fails_when_asked.sql)"
    )
    assert "dbt_build: dbt build failed" in result.error
    assert marts(rdb) == [(3, "v1")]  # readers keep the previous marts
    assert scratch_schemas(rdb) == []  # qbr__build dropped


def test_model_error_fails_the_run_with_the_database_error(rdb, standin_project):
    assert run(rdb, standin_project).status == "succeeded"
    result = run(rdb, standin_project, dbt_vars={"version": "v2", "break_sql": True})
    assert result.status == "failed"
    message = steps_of(rdb, result.batch_id)[-1][6]
    assert message == "dbt build failed: Failure in model mart_summary (models/mart_summary.sql)"
    [(error,)] = query(
        rdb,
        "select error from qbr_app.refresh_steps where name = 'dbt_build' and batch_id = %s",
        (result.batch_id,),
    )
    assert 'relation "no_such_table" does not exist' in error
    assert marts(rdb) == [(3, "v1")]
    assert scratch_schemas(rdb) == []


def test_first_build_failing_leaves_no_marts_and_no_scratch(rdb, standin_project):
    result = run(rdb, standin_project, dbt_vars={"fail_test": True})
    assert result.status == "failed"
    assert query(rdb, "select to_regclass('qbr.mart_summary')") == [(None,)]
    assert scratch_schemas(rdb) == []


def test_readers_never_see_half_built_marts(rdb, standin_project):
    """Readers loop over `qbr` while builds run and swap: every read is the old or the
    new complete mart set, never empty, mixed or missing."""
    assert run(rdb, standin_project).status == "succeeded"
    stop = threading.Event()
    seen: Counter = Counter()
    errors: list[str] = []
    long_reads: list[tuple] = []

    def reader():
        with psycopg.connect(rdb.url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    row = conn.execute(
                        "select (select row_count from qbr.mart_view), "
                        "(select count(*) from qbr.mart_rows), "
                        "(select min(version) from qbr.mart_rows), "
                        "(select max(version) from qbr.mart_rows), "
                        "(select row_count from qbr.mart_summary), "
                        "(select version from qbr.mart_summary)"
                    ).fetchone()
                    seen[row] += 1
                except psycopg.Error as exc:
                    errors.append(str(exc))

    def long_reader():
        """A reader in a long transaction: the swap waits for it; it sees one version."""
        with psycopg.connect(rdb.url) as conn:
            while not stop.is_set():
                with conn.transaction():
                    first = conn.execute("select count(*) from qbr.mart_rows").fetchone()[0]
                    conn.execute("select pg_sleep(0.7)")
                    again = conn.execute("select count(*) from qbr.mart_rows").fetchone()[0]
                long_reads.append((first, again))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads.append(threading.Thread(target=long_reader))
    for t in threads:
        t.start()
    try:
        new = run(rdb, standin_project, dbt_vars={"version": "v2", "rows": 5, "sleep": 1})
        failed = run(rdb, standin_project, dbt_vars={"version": "v3", "rows": 7, "fail_test": True})
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)

    assert (new.status, failed.status) == ("succeeded", "failed"), (new.error, failed.error)
    assert errors == []
    assert set(seen) == {(3, 3, "v1", "v1", 3, "v1"), (5, 5, "v2", "v2", 5, "v2")}, seen
    assert long_reads and all(a == b for a, b in long_reads)
    assert marts(rdb) == [(5, "v2")]


@pytest.mark.parametrize("since", ["2025-13", "25-01", "2025-1"])
def test_bad_since_is_refused_before_anything_runs(rdb, standin_project, since):
    with pytest.raises(refresh.RefreshOptionsError):
        run(rdb, standin_project, since=since)
    assert query(rdb, "select count(*) from qbr_app.refresh_runs") == [(0,)]
