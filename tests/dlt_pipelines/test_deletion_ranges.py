"""A narrowed ConnectWise sweep reads the ids of a few id ranges only: `apply`
must judge the rows inside those ranges and no other, and every merged raw
table gets its index on id (dlt_pipelines/deletions.py)."""

from __future__ import annotations

from typing import Any

import psycopg

from dlt_pipelines.deletions import Deletions, apply, ensure_id_indexes
from tests.dlt_pipelines.conftest import query


def _table(settings: Any) -> None:
    with psycopg.connect(settings.url, autocommit=True) as conn:
        conn.execute("create schema if not exists raw_ranges")
        conn.execute(
            "create table raw_ranges.things (id bigint, name text, _deleted_at timestamptz)"
        )
        conn.execute(
            "insert into raw_ranges.things (id, name) select g, 't' || g from generate_series(1, 100) g"
        )
        conn.execute("create table raw_ranges.plain (x int)")  # no id, no _deleted_at


def test_a_range_sweep_marks_only_inside_its_ranges(make_database: Any) -> None:
    settings = make_database("qbr_ranges")
    _table(settings)
    # ids 10..20 and 50..60 were read; 12 and 55 are gone there. 1..9, 21..49, 61..100
    # were not read (their counts matched): absent from `ids`, yet never judged.
    found = (set(range(10, 21)) - {12}) | (set(range(50, 61)) - {55})
    deletions = Deletions()
    deletions.swept("things", found, ranges=[(10, 20), (50, 60)])
    result = apply(settings.url, "raw_ranges", deletions)
    assert result["marked"] == 2
    gone = query(settings, "select id from raw_ranges.things where _deleted_at is not null")
    assert sorted(r[0] for r in gone) == [12, 55]

    # a record back inside a swept range is restored; a whole-table sweep judges all
    deletions = Deletions()
    deletions.swept("things", {12, *range(60, 101)}, ranges=[(12, 12), (60, 100)])
    assert apply(settings.url, "raw_ranges", deletions)["restored"] == 1
    deletions = Deletions()
    deletions.swept("things", set(range(1, 101)) - {7, 55})
    assert apply(settings.url, "raw_ranges", deletions)["marked"] == 1
    gone = query(settings, "select id from raw_ranges.things where _deleted_at is not null")
    assert sorted(r[0] for r in gone) == [7, 55]


def test_merged_tables_get_an_id_index_once(make_database: Any) -> None:
    settings = make_database("qbr_idindex")
    _table(settings)
    assert ensure_id_indexes(settings.url, "raw_ranges") == ["things__qbr_id"]
    assert ensure_id_indexes(settings.url, "raw_ranges") == []
    rows = query(
        settings,
        "select indexdef from pg_indexes where schemaname = 'raw_ranges' and tablename = 'things'",
    )
    assert [r[0] for r in rows] == [
        "CREATE INDEX things__qbr_id ON raw_ranges.things USING btree (id)"
    ]
