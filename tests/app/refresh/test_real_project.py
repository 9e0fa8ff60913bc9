"""The refresh over the real dbt project: it builds into qbr__build and swaps it in."""

from __future__ import annotations

import threading

import psycopg
import pytest

from qbr.app import refresh
from tests.app.refresh.conftest import query

pytestmark = pytest.mark.slow


def test_real_marts_build_into_scratch_and_swap_while_being_read(rdb, tmp_path, monkeypatch):
    # Our own dbt target dir: other dbt runs on this checkout must not share partial parses.
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    first = refresh.run_refresh(rdb, sources=[], trigger="test", echo=False)
    assert first.status == "succeeded", first.error
    assert first.steps[-1].details["swap"] == "swapped"
    [(periods,)] = query(rdb, "select count(*) from qbr.periods")
    assert periods > 0

    stop = threading.Event()
    errors: list[str] = []
    reads: list[int] = []

    def reader():
        with psycopg.connect(rdb.url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    reads.append(
                        conn.execute(
                            "select (select count(*) from qbr.periods) "
                            "+ (select count(*) from qbr.metrics_monthly) * 0"
                        ).fetchone()[0]
                    )
                except psycopg.Error as exc:
                    errors.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        second = refresh.run_refresh(rdb, sources=[], trigger="test", echo=False)
    finally:
        stop.set()
        thread.join(timeout=30)

    assert second.status == "succeeded", second.error
    # same rules as the first build: only what the data reaches was rebuilt, in the side
    # schemas, and switched in with the rest while the reader read
    assert second.steps[-1].details["build_mode"] == "data-only"
    assert "periods" in second.steps[-1].details["dbt_models_run"]
    assert errors == []
    assert reads and set(reads) == {periods}
    assert (
        query(rdb, "select nspname from pg_namespace where nspname in ('qbr__build', 'qbr__old')")
        == []
    )
    if query(rdb, "select 1 from pg_roles where rolname = 'qbr_api'"):
        assert query(
            rdb, "select has_table_privilege('qbr_api', 'qbr.metrics_monthly', 'select')"
        ) == [(True,)]
