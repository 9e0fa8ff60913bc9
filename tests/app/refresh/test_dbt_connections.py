"""The refresh's dbt child keeps each thread's PostgreSQL connection from node to node
(`dbt_child.keep_connections`): dbt itself closes it after every node and opens another.

Each model of a small project records the server process that built it
(`pg_backend_pid()`): with one dbt thread and kept connections every model is built by
the same process, also after a model failed in the middle of its transaction; with
`QBR_DBT_KEEP_CONNECTIONS=0` (dbt's own behaviour) each model has a process of its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qbr.app.refresh import dbt as refresh_dbt
from tests.app.refresh.conftest import query, wait_for

MODELS = {
    "a_pid": "select pg_backend_pid() as pid",
    # fails inside its transaction (division by zero), on the same thread as the others
    "b_broken": "select pg_backend_pid() as pid, 1 / (pid - pid) as boom "
    "from (select pg_backend_pid() as pid) as p",
    "c_pid": "select pg_backend_pid() as pid",
    "d_pid": "select pg_backend_pid() as pid",
}


@pytest.fixture
def project(standin_project, tmp_path) -> Path:
    root = tmp_path / "pids"
    shutil.copytree(standin_project, root, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.rmtree(root / "models")
    shutil.rmtree(root / "tests", ignore_errors=True)
    (root / "models").mkdir()
    for name, sql in MODELS.items():
        (root / "models" / f"{name}.sql").write_text(sql + "\n")
    return root


def _build(rdb, project: Path) -> tuple[refresh_dbt.DbtOutcome, dict[str, int]]:
    build = refresh_dbt.DbtBuild(rdb, project, 170000)
    args = [*refresh_dbt.build_args({}, False), "--threads", "1"]
    outcome = build.run(args, lambda o, e: None)
    pids = {
        name: query(rdb, f"select pid from qbr.{name}")[0][0]
        for name in MODELS
        if query(rdb, "select to_regclass(%s)", (f"qbr.{name}",))[0][0]
    }
    return outcome, pids


def test_one_thread_builds_every_model_on_one_connection(rdb, project, monkeypatch):
    monkeypatch.delenv("QBR_DBT_KEEP_CONNECTIONS", raising=False)
    outcome, pids = _build(rdb, project)
    assert outcome.returncode == 1  # b_broken failed; the others were built
    assert outcome.counts == {"OK": 3, "ERROR": 1}
    assert set(pids) == {"a_pid", "c_pid", "d_pid"}
    assert pids["a_pid"] == pids["c_pid"] == pids["d_pid"]  # one server process
    # the process has gone with the dbt child: no connection was left behind
    wait_for(
        lambda: (
            query(rdb, "select count(*) from pg_stat_activity where pid = %s", (pids["a_pid"],))
            == [(0,)]
        ),
        timeout=10,
    )


def test_without_kept_connections_each_model_has_a_connection_of_its_own(rdb, project, monkeypatch):
    monkeypatch.setenv("QBR_DBT_KEEP_CONNECTIONS", "0")
    outcome, pids = _build(rdb, project)
    assert outcome.returncode == 1 and outcome.counts == {"OK": 3, "ERROR": 1}
    assert len({pids["a_pid"], pids["c_pid"], pids["d_pid"]}) == 3
