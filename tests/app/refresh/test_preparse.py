"""The pre-started dbt child parses the project ahead, with the vars the build will use.

Proof that a build used the parse made ahead: the model is edited between the
parse and the build, and the build still runs the parsed SQL. The manifest.json
the build leaves is the build's (its invocation id is run_results.json's); a
child that gets no build leaves manifest.json as it was; other vars than those
parsed with make the build parse as usual.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qbr.app.refresh import dbt as refresh_dbt
from tests.app.refresh.conftest import query, wait_for

BUILD_VARS = {"marts_suffix": "__build"}


@pytest.fixture
def project(standin_project, tmp_path) -> Path:
    root = tmp_path / "standin"
    shutil.copytree(standin_project, root, ignore=shutil.ignore_patterns("target", "logs"))
    return root


def _parsed_ahead(build: refresh_dbt.DbtBuild, project: Path) -> None:
    """Wait until the child's parse is done (the parse alone writes perf_info.json)."""
    wait_for(lambda: (project / "target" / "perf_info.json").exists(), timeout=120)
    assert build.proc is not None and build.proc.poll() is None


def _edit_model(project: Path) -> None:
    model = project / "models" / "mart_rows.sql"
    model.write_text(model.read_text().replace("'{{ var(\"version\") }}'", "'edited'"))


def _rows(rdb) -> list[tuple]:
    return query(rdb, "select version, count(*) from qbr__build.mart_rows group by 1")


def _invocation(path: Path) -> str:
    return json.loads(path.read_text())["metadata"]["invocation_id"]


def test_a_build_with_the_parsed_vars_uses_the_parse_and_writes_its_manifest(rdb, project):
    target = project / "target"
    target.mkdir()
    (target / "manifest.json").write_text('{"metadata": {"invocation_id": "before"}}')
    build = refresh_dbt.DbtBuild(rdb, project, 170000)
    build.prestart(BUILD_VARS)
    _parsed_ahead(build, project)
    _edit_model(project)  # after the parse: a build that parses again would see it
    assert (target / "manifest.json").read_text() == '{"metadata": {"invocation_id": "before"}}'

    outcome = build.run(refresh_dbt.build_args(BUILD_VARS, False), lambda o, e: None)
    assert outcome.returncode == 0, outcome.tail
    assert outcome.counts == {"OK": 3, "PASS": 3} and outcome.total == 6
    assert _rows(rdb) == [("v1", 3)]  # the SQL parsed ahead, not the edit
    built = _invocation(target / "run_results.json")
    assert _invocation(target / "manifest.json") == built != "before"
    manifest = json.loads((target / "manifest.json").read_text())
    rows_node = manifest["nodes"]["model.standin.mart_rows"]
    assert 'var("version")' in rows_node["raw_code"]  # the manifest of what ran
    assert manifest["metadata"]["invocation_started_at"] is not None


def test_other_vars_than_those_parsed_with_parse_again(rdb, project):
    build = refresh_dbt.DbtBuild(rdb, project, 170000)
    build.prestart(BUILD_VARS)
    _parsed_ahead(build, project)
    _edit_model(project)

    other = {**BUILD_VARS, "rows": 4}  # e.g. a build decided otherwise than foreseen
    outcome = build.run(refresh_dbt.build_args(other, False), lambda o, e: None)
    assert outcome.returncode == 0, outcome.tail
    assert outcome.counts == {"OK": 3, "PASS": 3}
    assert _rows(rdb) == [("edited", 4)]  # parsed again: the edit and the new vars
    target = project / "target"
    assert _invocation(target / "manifest.json") == _invocation(target / "run_results.json")


def test_a_child_given_no_build_leaves_the_manifest_untouched(rdb, project):
    target = project / "target"
    build = refresh_dbt.DbtBuild(rdb, project, 170000)
    build.prestart(BUILD_VARS)  # a first child builds: a real manifest.json
    assert build.run(refresh_dbt.build_args(BUILD_VARS, False), lambda o, e: None).returncode == 0
    before = (target / "manifest.json").read_bytes()
    (target / "perf_info.json").unlink()

    build = refresh_dbt.DbtBuild(rdb, project, 170000)
    build.prestart(BUILD_VARS)
    _parsed_ahead(build, project)
    proc = build.proc
    assert proc is not None and proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()  # the refresh skipped its build: end of input
    assert proc.wait(timeout=60) == 0
    assert proc.stdout.read() == ""  # the parse printed nothing
    build.stop()
    assert (target / "manifest.json").read_bytes() == before
    assert (
        not (target / "run_results.json").exists()
        or _invocation(target / "run_results.json")
        == json.loads(before)["metadata"]["invocation_id"]
    )
