"""Issue 12 item 3: a failed build leaves every schema usable (the real dbt project).

Every layer (staging, intermediate, seeds, marts) is built into a `*__build`
side schema and swapped in together, so a build that fails half-way leaves
the live schemas exactly as they were: same relations, same objects (OIDs).
Then a selective `qbr dbt build -s ...` after the fix works.
"""

from __future__ import annotations

import shutil

import pytest

from qbr.app import cli, refresh
from qbr.dbt_runner import DBT_PROJECT_DIR
from tests.app.refresh.conftest import query

pytestmark = pytest.mark.slow

SCHEMAS = ["qbr_staging", "qbr_intermediate", "qbr_seeds", "qbr"]


def relations(settings) -> dict[str, int]:
    """{schema.relation: oid} of every live dbt relation."""
    rows = query(
        settings,
        "select n.nspname || '.' || c.relname, c.oid::bigint from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')",
        (SCHEMAS,),
    )
    return dict(rows)


def side_schemas(settings) -> list[str]:
    rows = query(
        settings,
        "select nspname from pg_namespace where nspname like '%%\\_\\_build' "
        "or nspname like '%%\\_\\_old' order by 1",
    )
    return [name for (name,) in rows]


def test_broken_seed_build_leaves_every_schema_then_selective_build_works(
    rdb, tmp_path, monkeypatch, capfd
):
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    seed = project / "seeds" / "reactive_boards.csv"
    good_seed = seed.read_text()

    first = refresh.run_refresh(rdb, sources=[], trigger="test", echo=False, project_dir=project)
    assert first.status == "succeeded", first.error
    assert first.steps[-1].details["layers_swapped"] == [
        "qbr_staging",
        "qbr_intermediate",
        "qbr_seeds",
    ]
    before = relations(rdb)
    assert {name.split(".")[0] for name in before} == set(SCHEMAS)
    assert "qbr_intermediate.int_tickets_classified" in before
    assert "qbr_seeds.reactive_boards" in before

    # An analyst's typo: a duplicate board. The seed's unique test fails, so everything
    # downstream of it is skipped while the rest of the project is rebuilt.
    seed.write_text(good_seed.rstrip("\n") + "\nHelp Desk\n")
    broken = refresh.run_refresh(rdb, sources=[], trigger="test", echo=False, project_dir=project)
    assert broken.status == "failed"
    assert "unique_reactive_boards_board_name" in broken.error
    assert relations(rdb) == before  # every live relation is the very same object
    assert query(rdb, "select count(*) from qbr_seeds.reactive_boards") == [(1,)]
    assert side_schemas(rdb) == []

    # Fixed; the analyst rebuilds only what the seed feeds, straight into the live schemas.
    seed.write_text(good_seed)
    monkeypatch.setattr(cli, "get_settings", lambda: rdb)
    capfd.readouterr()
    rc = cli.main(["dbt", "build", "-s", "int_tickets_classified+", "--project-dir", str(project)])
    out = capfd.readouterr().out
    assert rc == 0, out[-3000:]
    assert "ERROR=0" in out and "SKIP=0" in out
    assert set(relations(rdb)) == set(before)
