"""The load digest of large raw tables (qbr/dbt_runner.py `_load_digest`): real dlt merges
and our own soft-deletes into a throwaway database, with the row limit set low."""

from __future__ import annotations

import dlt
import psycopg

from dlt_pipelines import deletions
from qbr import dbt_runner
from tests.dbt.conftest import record_build

SCHEMA = "raw_fptest"


def test_load_digest_sees_every_change_and_small_tables_still_skip_a_re_merge(
    make_database, monkeypatch, tmp_path
):
    settings = make_database("qbr_fphash")
    monkeypatch.setattr(dbt_runner, "LOAD_DIGEST_ROWS", 3)  # items (5+ rows) are "large"
    pipeline = dlt.pipeline(
        pipeline_name="fptest",
        pipelines_dir=str(tmp_path),
        destination=dlt.destinations.postgres(settings.url),
        dataset_name=SCHEMA,
    )

    def load(table: str, rows: list[dict]) -> None:
        pipeline.run(
            rows,
            table_name=table,
            write_disposition="merge",
            primary_key="id",
            columns={"_deleted_at": {"data_type": "timestamp", "nullable": True}},
        ).raise_on_failed_jobs()
        with psycopg.connect(settings.url, autocommit=True) as c:
            c.execute(f"analyze {SCHEMA}.{table}")  # reltuples: the size the limit reads

    def sweep(present_ids: set[int]) -> dict:
        """Our pipelines' soft-delete step: ids missing from a full sweep are stamped
        `_deleted_at`, deleted ids seen again are cleared."""
        return deletions.apply(
            settings.url, SCHEMA, deletions.Deletions(present={"items": present_ids})
        )

    rules = dbt_runner.build_rules(settings)
    with psycopg.connect(settings.url, autocommit=True) as conn:
        conn.execute("create schema if not exists qbr")  # the live marts' flags (no flag live)
        conn.execute("create table if not exists qbr.data_quality_flags (flag text)")

        def decide():
            return dbt_runner.decide_build(
                conn, settings, sources=[("fptest", "succeeded", 1)], rules=rules
            )

        def record(decision) -> None:  # what a succeeded build step keeps
            batch = f"bc_{len(recorded):026d}"
            recorded.append(batch)
            record_build(conn, batch, decision.details())

        def digests(decision) -> dict[str, str]:
            return {t: s["h"] for t, s in decision.fingerprint["raw"][SCHEMA].items()}

        def per_load() -> list[tuple]:
            """Rows per load id and the number soft-deleted: what a count alone would see."""
            return conn.execute(
                f"select _dlt_load_id, count(*), count(_deleted_at) from {SCHEMA}.items "
                "group by 1 order by 1"
            ).fetchall()

        recorded: list[str] = []
        load("items", [{"id": i, "name": f"n{i}"} for i in range(1, 6)])
        load("small", [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
        first = decide()
        assert not first.skip
        h = digests(first)
        # the large table gets the load digest (5 rows, one load), the small one the content
        # hash ("rows:sum")
        assert h["items"].startswith("loads:5:") and h["small"].startswith("2:")
        record(first)

        same = decide()  # nothing done: equal digests, skipped
        assert digests(same) == h and same.skip, same.reason

        small_loads = f"select distinct _dlt_load_id from {SCHEMA}.small"
        before = conn.execute(small_loads).fetchall()
        load("small", [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])  # identical re-merge ...
        after = conn.execute(small_loads).fetchall()
        assert len(after) == 1 and after != before  # ... rewrites both rows in a new load
        again = decide()
        assert again.skip, again.reason
        assert digests(again) == h

        load("items", [{"id": 6, "name": "n6"}])  # a new load (a new row)
        added = decide()
        assert not added.skip and added.reason == "changed: raw"
        assert digests(added)["items"].startswith("loads:6:")
        assert digests(added)["items"] != h["items"] and digests(added)["small"] == h["small"]
        record(added)

        load("items", [{"id": 3, "name": "changed"}])  # a merge replacing a row: 6 rows still
        replaced = decide()
        assert conn.execute(f"select name from {SCHEMA}.items where id = 3").fetchone() == (
            "changed",
        )
        assert not replaced.skip and replaced.reason == "changed: raw"
        assert digests(replaced)["items"].startswith("loads:6:")
        assert digests(replaced)["items"] != digests(added)["items"]
        record(replaced)

        assert sweep({1, 3, 4, 5, 6})["marked"] == 1  # 2 soft-deleted
        deleted = decide()
        assert not deleted.skip and digests(deleted)["items"] != digests(replaced)["items"]
        record(deleted)
        assert decide().skip

        counts = per_load()
        assert sweep({1, 2, 3, 5, 6}) | {"tables": None} == {
            "marked": 1,  # 4 deleted ...
            "restored": 1,  # ... and 2 back, in one step
            "tables": None,
            "skipped": {},
        }
        assert per_load() == counts  # same rows per load, same number deleted ...
        swapped = decide()  # ... yet the digest changed
        assert not swapped.skip and swapped.reason == "changed: raw"
        assert digests(swapped)["items"] != digests(deleted)["items"]
        assert digests(swapped)["items"].startswith("loads:6:")
