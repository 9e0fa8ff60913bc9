"""What makes the refresh rebuild: the project fingerprint (qbr/dbt_runner.py)."""

from __future__ import annotations

import shutil

from qbr import dbt_runner


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
