"""A refresh overlaps the parts of its build step that do not depend on each other.

While the sources load, the old side schemas are dropped and dbt's own tables
(seeds, incremental tables) are copied into new ones; the views over the raw
tables are re-created after the sources. dbt starts while the fingerprint of
what the sources loaded is computed; a fingerprint that says "skip" stops it.
A tiny layered stand-in project (staging view + incremental table, a seed, marts)
keeps each build at a second or two.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import threading
from pathlib import Path

import psycopg
import pytest

from qbr import dbt_runner
from qbr.app import refresh
from qbr.app.refresh import dbt as refresh_dbt
from qbr.app.refresh import run as refresh_run
from qbr.dbt_runner import DBT_PROJECT_DIR
from tests.app.refresh.conftest import query, wait_for

LAYERED_FILES = {
    "dbt_project.yml": """
        name: layered
        version: "1.0.0"
        config-version: 2
        profile: qbr
        model-paths: ["models"]
        seed-paths: ["seeds"]
        macro-paths: ["macros"]
        target-path: "target"
        flags:
          send_anonymous_usage_stats: false
        vars:
          marts_suffix: ""
          layers_suffix: ""
        models:
          layered:
            staging:
              +schema: qbr_staging
              +materialized: view
            marts:
              +schema: qbr
              +materialized: table
        seeds:
          layered:
            +schema: qbr_seeds
    """,
    "macros/generate_schema_name.sql": """
        {% macro generate_schema_name(custom_schema_name, node) -%}
            {%- if custom_schema_name is none or custom_schema_name | trim == 'qbr' -%}
                qbr{{ var('marts_suffix', '') }}
            {%- else -%}
                {{ custom_schema_name | trim }}{{ var('layers_suffix', '') }}
            {%- endif -%}
        {%- endmacro %}
    """,
    "models/sources.yml": """
        version: 2
        sources:
          - name: raw
            schema: raw_connectwise
            tables: [{name: items}]
    """,
    "seeds/kinds.csv": "kind,label\n1,one\n2,two\n",
    # kept by a data-only build: reads only a source
    "models/staging/stg_items.sql": """
        select id, amount from {{ source('raw', 'items') }}
    """,
    "models/staging/stg_items_inc.sql": """
        {{ config(materialized='incremental', unique_key='id',
                  indexes=[{'columns': ['amount']}]) }}
        select id, amount from {{ source('raw', 'items') }}
        {% if is_incremental() %}
        where id > (select coalesce(max(id), 0) from {{ this }})
        {% endif %}
    """,
    "models/marts/mart_total.sql": """
        select
            count(*) as n,
            sum(amount) as total,
            (select count(*) from {{ ref('kinds') }}) as kinds,
            (select count(*) from {{ ref('stg_items') }}) as n_view
        from {{ ref('stg_items_inc') }}
    """,
    "models/marts/data_quality_flags.sql": """
        select
            null::text as flag_id, null::date as period, null::text as metric_key,
            null::text as flag, null::text as severity, null::text as subject,
            null::text as message
        where false
    """,
}
SIDE = ("qbr_staging__build", "qbr_intermediate__build", "qbr_seeds__build", "qbr__build")


@pytest.fixture
def layered(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "layered"
    for rel, text in LAYERED_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    shutil.copy(DBT_PROJECT_DIR / "profiles.yml", root / "profiles.yml")
    return root


def add_items(settings, ids: range) -> int:
    with psycopg.connect(settings.url, autocommit=True) as conn:
        conn.execute("create schema if not exists raw_connectwise")
        conn.execute("create table if not exists raw_connectwise.items (id int, amount int)")
        conn.execute(
            "insert into raw_connectwise.items select n, n * 10 from unnest(%s::int[]) as n",
            (list(ids),),
        )
    return len(ids)


def run(settings, project, **kwargs):
    return refresh.run_refresh(
        settings, trigger="test", echo=False, project_dir=project, sources=["connectwise"], **kwargs
    )


def side_schemas(settings) -> list[str]:
    rows = query(
        settings,
        "select nspname from pg_namespace where nspname like '%%\\_\\_build' order by 1",
    )
    return [name for (name,) in rows]


def side_state(settings) -> dict:
    """Every relation of the side schemas: kind, columns, indexes, view definition, and for
    a table whether its rows equal the live table's (`except` both ways)."""
    with psycopg.connect(settings.url, autocommit=True) as conn:
        rels = conn.execute(
            "select n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname like '%%\\_\\_build' and c.relkind in ('r', 'v') order by 1, 2"
        ).fetchall()
        state = {}
        for schema, name, kind, view in rels:
            columns = conn.execute(
                "select attname, format_type(atttypid, atttypmod) from pg_attribute "
                "where attrelid = format('%%I.%%I', %s::text, %s::text)::regclass "
                "and attnum > 0 and not attisdropped order by attnum",
                (schema, name),
            ).fetchall()
            indexes = conn.execute(
                "select count(*) from pg_index where indrelid = "
                "format('%%I.%%I', %s::text, %s::text)::regclass",
                (schema, name),
            ).fetchone()[0]
            same = None
            if kind == "r":
                live = schema.removesuffix("__build")
                [(same,)] = conn.execute(
                    f'select not exists (select * from "{schema}"."{name}" except '
                    f'select * from "{live}"."{name}") and not exists (select * from '
                    f'"{live}"."{name}" except select * from "{schema}"."{name}")'
                ).fetchall()
            state[f"{schema}.{name}"] = (kind, columns, indexes, view, same)
    return state


@pytest.fixture
def at_dbt_start(monkeypatch) -> list[dict]:
    """The side schemas' state each time dbt is about to start."""
    seen: list[dict] = []
    original = refresh_dbt.DbtBuild.run

    def run_and_look(self, args, on_node):
        seen.append(side_state(self.settings))
        return original(self, args, on_node)

    monkeypatch.setattr(refresh_dbt.DbtBuild, "run", run_and_look)
    return seen


def mart(settings):
    return query(settings, "select n, total, kinds, n_view from qbr.mart_total")


def test_side_schemas_prepared_during_the_sources_equal_those_prepared_after(
    rdb, layered, fake_sources, at_dbt_start, monkeypatch
):
    fake_sources["connectwise"] = lambda full, since: (add_items(rdb, range(1, 6)), {})
    first = run(rdb, layered)  # no stamp yet: a full swap, nothing prepared early
    assert first.status == "succeeded", first.error
    assert mart(rdb) == [(5, 150, 2, 5)]

    # the sequential way (as before the overlap): prepared after the sources
    monkeypatch.setattr(refresh_run, "PREPARE_DURING_SOURCES", False)
    fake_sources["connectwise"] = lambda full, since: (add_items(rdb, range(6, 8)), {})
    sequential = run(rdb, layered)
    assert sequential.status == "succeeded", sequential.error
    assert sequential.steps[-1].details["build_mode"] == "data-only"
    assert "prepare (during sources)" not in sequential.steps[-1].details["phases"]
    assert mart(rdb) == [(7, 280, 2, 7)]

    # overlapped: the source loads while the side schemas are filled (it waits to see the
    # copied incremental table appear, so the prepare ran beside it)
    monkeypatch.setattr(refresh_run, "PREPARE_DURING_SOURCES", True)

    def load_while_preparing(full, since):
        wait_for(
            lambda: query(rdb, "select to_regclass('qbr_staging__build.stg_items_inc')")[0][0],
            timeout=60,
        )
        return add_items(rdb, range(8, 10)), {}

    fake_sources["connectwise"] = load_while_preparing
    overlapped = run(rdb, layered)
    assert overlapped.status == "succeeded", overlapped.error
    details = overlapped.steps[-1].details
    assert details["build_mode"] == "data-only"
    assert details["incremental_tables_copied"] == {
        "qbr_seeds.kinds": 2,
        "qbr_staging.stg_items_inc": 7,  # the live table as the sources began
    }
    assert {"prepare (during sources)", "fingerprint (during dbt)", "dbt"} <= set(details["phases"])
    assert details["build_reason"].startswith("changed: ")  # the fingerprint still decides
    assert mart(rdb) == [(9, 450, 2, 9)]  # 1..9 * 10

    before, after = at_dbt_start[1], at_dbt_start[2]
    assert after == before  # same relations, columns, indexes, view text; copies == live
    assert set(before) == {
        "qbr_seeds__build.kinds",
        "qbr_staging__build.stg_items",
        "qbr_staging__build.stg_items_inc",
    }
    assert all(same is not False for (_k, _c, _i, _v, same) in after.values())
    assert after["qbr_staging__build.stg_items_inc"][2] == 1  # its index copied too
    assert side_schemas(rdb) == []


def test_a_skip_after_the_early_prepare_leaves_no_side_schema(rdb, layered, fake_sources):
    fake_sources["connectwise"] = lambda full, since: (add_items(rdb, range(1, 4)), {})
    assert run(rdb, layered).status == "succeeded"

    def nothing_new(full, since):  # the side schemas are filled meanwhile
        wait_for(lambda: "qbr_staging__build" in side_schemas(rdb), timeout=60)
        return 0, {}

    fake_sources["connectwise"] = nothing_new
    skipped = run(rdb, layered)
    assert skipped.status == "succeeded", skipped.error
    details = skipped.steps[-1].details
    assert details["build_mode"] == "skipped", details
    assert "prepare (during sources)" in details["phases"]
    assert side_schemas(rdb) == []
    assert mart(rdb) == [(3, 60, 2, 3)]


def test_a_skip_found_while_dbt_starts_stops_it_and_leaves_nothing(
    rdb, layered, fake_sources, monkeypatch
):
    fake_sources["connectwise"] = lambda full, since: (add_items(rdb, range(1, 4)), {})
    assert run(rdb, layered).status == "succeeded"
    oid_before = query(rdb, "select 'qbr.mart_total'::regclass::oid")

    def same_rows_again(full, since):  # a re-merge: rows rewritten, content unchanged
        with psycopg.connect(rdb.url, autocommit=True) as conn:
            conn.execute("update raw_connectwise.items set amount = amount")
        return 3, {}

    children: list[int] = []
    original = refresh_dbt.DbtBuild.run

    def run_and_note(self, args, on_node):
        outcome = original(self, args, on_node)
        children.append(outcome.returncode)
        return outcome

    monkeypatch.setattr(refresh_dbt.DbtBuild, "run", run_and_note)
    fake_sources["connectwise"] = same_rows_again
    result = run(rdb, layered)
    assert result.status == "succeeded", result.error
    details = result.steps[-1].details
    assert details["build_mode"] == "skipped", details
    assert details["build_stopped"]
    assert "fingerprint (during dbt)" in details["phases"]
    assert len(children) == 1  # dbt was started beside the fingerprint (and stopped or done)
    assert side_schemas(rdb) == []
    assert query(rdb, "select 'qbr.mart_total'::regclass::oid") == oid_before  # not swapped
    assert _dbt_children() == []


def test_a_decision_that_disagrees_with_the_early_rules_builds_over_in_sequence(
    rdb, layered, fake_sources, at_dbt_start, monkeypatch
):
    fake_sources["connectwise"] = lambda full, since: (add_items(rdb, range(1, 4)), {})
    assert run(rdb, layered).status == "succeeded"

    def unknown(*args, **kwargs):  # as decide_build on a database error: no fingerprint
        return dbt_runner.BuildDecision(False, "could not fingerprint the inputs: boom", {})

    monkeypatch.setattr(dbt_runner, "decide_build", unknown)
    fake_sources["connectwise"] = lambda full, since: (add_items(rdb, range(4, 6)), {})
    result = run(rdb, layered)
    assert result.status == "succeeded", result.error
    details = result.steps[-1].details
    # dbt ran twice: beside the fingerprint (data-only), then again as the decision says
    assert len(at_dbt_start) == 3
    assert "qbr_staging__build.stg_items" in at_dbt_start[1]  # the kept view, data-only
    assert "qbr_staging__build.stg_items" not in at_dbt_start[2]  # a full swap builds it
    assert details["build_mode"] == "full swap"
    assert details["build_mode_reason"] == "the project's fingerprint is unknown"
    assert details["build_reason"] == "could not fingerprint the inputs: boom"
    assert mart(rdb) == [(5, 150, 2, 5)]
    assert side_schemas(rdb) == []


def test_interrupt_while_preparing_during_the_sources_leaves_nothing(rdb, layered, fake_sources):
    fake_sources["connectwise"] = lambda full, since: (add_items(rdb, range(1, 4)), {})
    assert run(rdb, layered).status == "succeeded"

    def interrupted(full, since):
        wait_for(lambda: "qbr_staging__build" in side_schemas(rdb), timeout=60)
        raise KeyboardInterrupt

    fake_sources["connectwise"] = interrupted
    with pytest.raises(KeyboardInterrupt):
        run(rdb, layered)
    [(status, error)] = query(
        rdb,
        "select status, error from qbr_app.refresh_runs order by created_at desc limit 1",
    )
    assert (status, error) == ("failed", "interrupted")
    assert side_schemas(rdb) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("qbr refresh")]
    assert _dbt_children() == []  # the dbt child started with the refresh is gone too
    assert mart(rdb) == [(3, 60, 2, 3)]


@pytest.mark.parametrize("parse_ahead", [False, True], ids=["plain", "parsed-ahead"])
def test_the_dbt_child_reports_as_the_dbt_command_does(rdb, standin_project, parse_ahead):
    """The pre-started child (dbt_child.py, dbtRunner) against the `dbt` executable: the
    same build with a failing test gives the same progress, counts, summary and error,
    whether the child parsed the project ahead (with the build's vars) or not."""
    build_vars = {"marts_suffix": "__build", "fail_test": True}
    args = refresh_dbt.build_args(build_vars, False)
    cli = dbt_runner.run(  # as the refresh ran dbt before the child
        rdb, args, project_dir=standin_project, extra_env={"DBT_USE_COLORS": "false"}
    )
    by_cli = refresh_dbt.DbtOutcome()
    cli_events = []
    for raw in cli.stdout.splitlines():
        event = by_cli.feed(refresh_dbt.DBT_TIMESTAMP_RE.sub("", raw.rstrip()))
        if event:
            cli_events.append(event)
    by_cli.returncode = cli.returncode

    build = refresh_dbt.DbtBuild(rdb, standin_project, 170000)
    build.prestart(build_vars if parse_ahead else None)
    child_events = []
    by_child = build.run(args, lambda outcome, event: child_events.append(event))
    assert _dbt_children() == []

    assert by_cli.returncode == by_child.returncode == 1
    assert by_child.total == by_cli.total == 6 and by_child.done == 6
    assert by_child.counts == by_cli.counts == {"OK": 3, "PASS": 2, "FAIL": 1}
    assert by_child.totals == by_cli.totals
    assert by_child.totals.startswith("PASS=5 WARN=0 ERROR=1")
    assert sorted(e.split(" ", 2)[2] for e in child_events) == sorted(
        e.split(" ", 2)[2] for e in cli_events
    )
    head = "dbt build failed: Failure in test fails_when_asked"
    assert by_child.error_message().splitlines()[0].startswith(head)
    assert by_cli.error_message().splitlines()[0] == by_child.error_message().splitlines()[0]
    assert by_child.summary == by_cli.summary
    # a failed build's manifest.json is the build's too (run_results.json: same invocation)
    ids = [
        json.loads((standin_project / "target" / name).read_text())["metadata"]["invocation_id"]
        for name in ("manifest.json", "run_results.json")
    ]
    assert ids[0] == ids[1]


def _dbt_children() -> list[int]:
    """Processes whose parent is this one and whose command line runs dbt."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"dbt" in cmd:
            found.append(int(entry))
    return found
