"""What makes the refresh rebuild: the project fingerprint (qbr/dbt_runner.py)."""

from __future__ import annotations

import json
import shutil

from qbr import dbt_runner
from tests.dbt.conftest import record_build


def test_project_digest_follows_models_seeds_and_macros_and_names_env_vars(tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(
        dbt_runner.DBT_PROJECT_DIR,
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    first, names = dbt_runner.project_digest(project)
    # the env_var()s of dbt_project.yml and the inventory source yml
    assert {"QBR_TIMEZONE", "QBR_HISTORY_START", "QBR_INVENTORY_SCHEMA"} <= set(names)
    assert dbt_runner.project_digest(project)[0] == first  # stable
    seen = {first}
    for path, text in [
        ("seeds/metric_catalogue.csv", "\n"),
        ("macros/safe_divide.sql", "\n-- edited\n"),
        ("models/marts/periods.sql", "\n-- edited\n"),
    ]:
        with open(project / path, "a") as f:
            f.write(text)
        digest = dbt_runner.project_digest(project)[0]
        assert digest not in seen, path
        seen.add(digest)
    (project / "target").mkdir()
    (project / "target" / "run_results.json").write_text("{}")  # build output: ignored
    assert dbt_runner.project_digest(project)[0] in seen


def test_deadlock_is_recognised_in_dbt_output():
    assert dbt_runner.is_deadlock(["  Database Error in model x", "  deadlock detected"])
    assert not dbt_runner.is_deadlock(["  Database Error in model x", "  syntax error"])


def test_write_counters_do_not_count_as_a_change():
    a = {"project": "p", "raw": {"raw_x": {"t": {"c": [1, 2, 3, 4, 5], "h": "10:99"}}}}
    b = {"project": "p", "raw": {"raw_x": {"t": {"c": [1, 9, 9, 9, 5], "h": "10:99"}}}}
    c = {"project": "p", "raw": {"raw_x": {"t": {"c": [1, 9, 9, 9, 5], "h": "10:98"}}}}
    assert dbt_runner._comparable(a) == dbt_runner._comparable(b)
    assert dbt_runner._comparable(a) != dbt_runner._comparable(c)


def _manifest_node(kind: str, name: str, mat: str | None, schema: str, parents=()) -> dict:
    node = {
        "resource_type": kind,
        "name": name,
        "alias": name,
        "config": {"schema": schema, **({"materialized": mat} if mat else {})},
        "depends_on": {"nodes": list(parents)},
    }
    return node


def test_data_only_plan_rebuilds_what_data_reaches_from_the_last_builds_manifest(tmp_path):
    """Tables, incrementals and the views downstream of them are rebuilt; views over
    sources and seeds are kept, in dependency order; tests reading only seeds not re-run.
    The plan comes only from the manifest stamped by the last build of this project."""
    n = {
        "seed.qbr.boards": _manifest_node("seed", "boards", None, "qbr_seeds"),
        "model.qbr.stg_a": _manifest_node(
            "model", "stg_a", "view", "qbr_staging", ["source.qbr.raw.a"]
        ),
        "model.qbr.int_b": _manifest_node(
            "model", "int_b", "view", "qbr_intermediate", ["model.qbr.stg_a", "seed.qbr.boards"]
        ),
        "model.qbr.int_inc": _manifest_node(
            "model", "int_inc", "incremental", "qbr_intermediate", ["model.qbr.int_b"]
        ),
        "model.qbr.int_after": _manifest_node(
            "model", "int_after", "view", "qbr_intermediate", ["model.qbr.int_inc"]
        ),
        "model.qbr.mart": _manifest_node("model", "mart", "table", "qbr", ["model.qbr.int_b"]),
        "model.qbr.mart_view": _manifest_node(
            "model", "mart_view", "view", "qbr", ["model.qbr.mart", "model.qbr.stg_a"]
        ),
        "test.qbr.t_seed": _manifest_node("test", "t_seed", None, "x", ["seed.qbr.boards"]),
        "test.qbr.t_stg": _manifest_node("test", "t_stg", None, "x", ["model.qbr.stg_a"]),
        "test.qbr.t_rel": _manifest_node(
            "test", "t_rel", None, "x", ["model.qbr.mart", "seed.qbr.boards"]
        ),
    }
    target = tmp_path / "target"
    target.mkdir()
    manifest = {"metadata": {"invocation_id": "inv-1"}, "nodes": n}
    (target / "manifest.json").write_text(json.dumps(manifest))
    env = {"DBT_TARGET_PATH": str(target)}
    plan, why = dbt_runner.data_only_plan(env, "p1")
    assert plan is None and why == "no manifest of the last build"  # never stamped
    dbt_runner.stamp_build(env, "p1")
    assert dbt_runner.data_only_plan(env, "p2")[0] is None  # another project
    plan, why = dbt_runner.data_only_plan(env, "p1")
    assert plan is not None, why
    assert sorted(plan.models) == ["int_after", "int_inc", "mart", "mart_view"]
    assert plan.views == [("qbr_staging", "stg_a"), ("qbr_intermediate", "int_b")]
    assert plan.seeds == [("qbr_seeds", "boards")]
    assert plan.incremental == [("qbr_intermediate", "int_inc")]
    assert sorted(plan.tests) == ["t_rel", "t_stg"] and plan.tests_skipped == 1
    # a later dbt run wrote another manifest (e.g. `qbr dbt parse` of an edited project)
    manifest["metadata"]["invocation_id"] = "inv-2"
    (target / "manifest.json").write_text(json.dumps(manifest))
    plan, why = dbt_runner.data_only_plan(env, "p1")
    assert plan is None and why == "the saved manifest is not the last build's"
    # a materialization the plan does not know means a full build
    n["model.qbr.mart"]["config"]["materialized"] = "materialized_view"
    (target / "manifest.json").write_text(json.dumps(manifest))
    dbt_runner.stamp_build(env, "p1")
    plan, why = dbt_runner.data_only_plan(env, "p1")
    assert plan is None and "mart" in why


def test_the_rules_seen_before_the_sources_agree_with_the_decision_after(make_database):
    """A refresh prepares its side schemas from `rules_decision` while the sources load; the
    decision after them (`decide_build` with the same rules) must say the same about a full
    refresh, and other rules (vars) must say "full refresh" before and after alike."""
    import psycopg

    settings = make_database("qbr_rules")
    rules = dbt_runner.build_rules(settings)
    assert set(rules) == set(dbt_runner.RULES)
    loaded = [("connectwise", "succeeded", 3)]
    with psycopg.connect(settings.url, autocommit=True) as conn:
        assert dbt_runner.rules_decision(conn, rules).full_refresh  # no build yet
        batch = "bc_" + "0" * 25 + "R"
        record_build(conn, batch, {"build_fingerprint": {**rules, "raw": {}}})
        early = dbt_runner.rules_decision(conn, rules)
        later = dbt_runner.decide_build(conn, settings, sources=loaded, rules=rules)
        assert not early.skip and not early.full_refresh
        assert not later.skip and not later.full_refresh
        assert (
            later.rules_key()
            == early.rules_key()
            == json.dumps([rules["project"], rules["vars"], rules["env"]])
        )
        other = dbt_runner.build_rules(settings, dbt_vars={"refresh_since": "2025-01"})
        assert other["vars"] != rules["vars"] and other["project"] == rules["project"]
        assert dbt_runner.rules_decision(conn, other).full_refresh
        assert dbt_runner.decide_build(conn, settings, sources=loaded, rules=other).full_refresh
