"""Issue 12 item 6: a flag is raised once, then carried or acknowledged (never re-raised).

The refresh reads dbt's `qbr.data_quality_flags` (here a stand-in mart whose
flags a var decides) and records each flag's state; the API lists and
acknowledges them.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest

from api import create_app
from qbr import apikeys
from qbr.app import refresh
from tests.api.conftest import SpecClient
from tests.app.refresh.conftest import query

FLAGS_MODEL = """
select
    1 as organization_id,
    '2025-05'::text as period,
    null::text as metric_key,
    'large_change'::text as flag,
    'warning'::text as severity,
    subject || ' changed' as message,
    subject,
    md5(subject) as flag_id
from unnest(string_to_array('{{ var("flags", "") }}', ',')) as subject
"""


@pytest.fixture(scope="module")
def project(standin_project, tmp_path_factory):
    root = tmp_path_factory.mktemp("standin_with_flags")
    shutil.copytree(standin_project, root, dirs_exist_ok=True)
    (root / "models" / "data_quality_flags.sql").write_text(FLAGS_MODEL)
    return root


def build(settings, project, flags: str):
    run = refresh.run_refresh(
        settings,
        sources=[],
        trigger="test",
        echo=False,
        project_dir=project,
        dbt_vars={"flags": flags},
    )
    assert run.status == "succeeded", run.error
    states = {f["subject"]: f["state"] for f in run.anomaly_flags}
    [(stored,)] = query(
        settings,
        "select anomaly_flags from qbr_app.refresh_runs where batch_id = %s",
        (run.batch_id,),
    )
    assert {f["subject"]: f["state"] for f in stored} == states
    return run, states


def fid(subject: str) -> str:
    return hashlib.md5(subject.encode()).hexdigest()


def test_flags_are_raised_once_then_carried_or_acknowledged(rdb, project):
    first, states = build(rdb, project, "a,b")
    assert states == {"a": "new", "b": "new"}
    _, states = build(rdb, project, "a,b,c")
    assert states == {"a": "carried", "b": "carried", "c": "new"}

    app = create_app({"QBR_SETTINGS": rdb, "POOL_MIN_SIZE": 0})
    try:
        admin = SpecClient(app, {"X-API-Key": apikeys.create(rdb, "ops-admin", "admin")})
        reader = SpecClient(app, {"X-API-Key": apikeys.create(rdb, "ops-reader", "read")})
        body = reader.get("/api/qbr/flags").get_json()
        assert body["total"] == 3
        by_subject = {f["subject"]: f for f in body["flags"]}
        assert by_subject["a"]["first_raised_batch"] == first.batch_id
        assert by_subject["a"]["flag_id"] == fid("a")
        assert reader.post(f"/api/qbr/flags/{fid('a')}/acknowledge").status_code == 403
        r = admin.post(f"/api/qbr/flags/{fid('a')}/acknowledge")
        assert r.status_code == 200 and r.get_json()["acknowledged_by"] == "ops-admin"
        assert admin.post(f"/api/qbr/flags/{fid('zz')}/acknowledge").status_code == 404
        open_now = reader.get("/api/qbr/flags").get_json()
        assert sorted(f["subject"] for f in open_now["flags"]) == ["b", "c"]
        assert reader.get("/api/qbr/flags?state=all").get_json()["total"] == 3
        acked = reader.get("/api/qbr/flags?state=acknowledged").get_json()["flags"]
        assert [f["subject"] for f in acked] == ["a"]
    finally:
        app.extensions["qbr_pool"].close()

    _, states = build(rdb, project, "a,b,c")
    assert states == {"a": "acknowledged", "b": "carried", "c": "carried"}
    _, states = build(rdb, project, "b")
    assert states == {"b": "carried"}
    assert query(
        rdb, "select count(*) from qbr_app.audit_log where action = 'flag.acknowledge'"
    ) == [(1,)]
