"""Issue 12 items 1 and 2: `qbr refresh` exit codes and `/health` / `qbr status` tell the truth.

Real QuickBooks pipeline over HTTP against the sandbox (small preset), the
stand-in dbt project (fast), the real CLI entry point and the real Flask app.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import psycopg
import pytest

from api import create_app
from qbr.app import cli, refresh
from qbr.errors import QbrError
from qbr.settings import parse_stale_limits
from sandbox.msp import generate
from sandbox.servers.runner import Sandbox
from tests.app.refresh.conftest import query
from tests.dlt_pipelines.conftest import FAST_HTTP, TODAY, qbo_config

HEALTH = "/api/qbr/health"


@pytest.fixture
def qbo_sandbox(monkeypatch) -> Iterator[Sandbox]:
    for key, value in FAST_HTTP.items():
        monkeypatch.setenv(key, value)
    with Sandbox(generate("small", seed=42, today=TODAY)) as sb:
        for key, value in qbo_config(sb).items():
            monkeypatch.setenv(f"SOURCES__QUICKBOOKS__{key.upper()}", value)
        yield sb


@pytest.fixture(scope="module")
def project(standin_project, tmp_path_factory):
    """The stand-in project plus a `periods` mart: health probes qbr.periods."""
    root = tmp_path_factory.mktemp("standin_with_periods")
    shutil.copytree(standin_project, root, dirs_exist_ok=True)
    (root / "models" / "periods.sql").write_text("select 1 as organization_id\n")
    return root


@pytest.fixture
def qbr_cli(rdb, project, monkeypatch):
    """`qbr ...` in-process against the test database, refreshes over the stand-in project."""
    monkeypatch.setattr(cli, "get_settings", lambda: rdb)
    real = refresh.run_refresh
    extra: dict = {}

    def run_refresh(settings, **kwargs):
        return real(settings, project_dir=project, dbt_vars=dict(extra), **kwargs)

    monkeypatch.setattr(refresh, "run_refresh", run_refresh)

    def call(*argv: str, dbt_vars: dict | None = None) -> int:
        extra.clear()
        extra.update(dbt_vars or {})
        return cli.main(list(argv))

    return call


@pytest.fixture
def client(rdb):
    app = create_app({"QBR_SETTINGS": rdb, "POOL_MIN_SIZE": 0})
    yield app.test_client()
    app.extensions["qbr_pool"].close()


def test_source_down_is_partial_exit_4_degraded_then_ok(rdb, qbo_sandbox, qbr_cli, client, capsys):
    # 1. a good refresh: exit 0, health ok; one progress line per step with the counts
    # dlt reported while extracting, no dbt node lines (they are in dbt's log), a table
    capsys.readouterr()
    assert qbr_cli("refresh", "--sources", "quickbooks") == 0
    out = capsys.readouterr().out.splitlines()
    [(rows_loaded,)] = query(
        rdb, "select rows_loaded from qbr_app.refresh_steps where name = 'quickbooks'"
    )
    assert rows_loaded > 100
    assert "  [1/2] quickbooks ..." in out and "  [2/2] dbt_build ..." in out
    [done] = [x for x in out if x.startswith("        quickbooks succeeded in ")]
    rows, pages = re.search(r", ([\d,]+) rows, (\d+) pages$", done).groups()
    assert int(rows.replace(",", "")) == rows_loaded and int(pages) >= 1
    assert any(x.startswith("        dbt_build succeeded in ") and "7/7 nodes" in x for x in out)
    assert not [x for x in out if re.search(r"dbt \d+/\d+ ", x)]
    assert [x.split() for x in out if x.startswith("  step ")] == [
        ["step", "status", "loaded", "time"]
    ]
    r = client.get(HEALTH)
    assert (r.status_code, r.get_json()["status"]) == (200, "ok"), r.get_json()
    [source] = r.get_json()["sources"]
    assert source["name"] == "quickbooks" and source["status"] == "ok"
    [(good_at,)] = query(
        rdb,
        "select finished_at from qbr_app.refresh_steps where name = 'quickbooks' "
        "and status = 'succeeded'",
    )
    assert source["last_good_load_at"] == good_at.isoformat()

    # 2. QuickBooks down: the run is partial, exit 4, health degraded naming quickbooks
    qbo_sandbox.fault("quickbooks", "down", mode="503")
    capsys.readouterr()
    assert qbr_cli("refresh", "--sources", "quickbooks") == refresh.EXIT_PARTIAL == 4
    [(status,)] = query(
        rdb, "select status from qbr_app.refresh_runs order by created_at desc limit 1"
    )
    assert status == "partial"
    r = client.get(HEALTH)
    body = r.get_json()
    assert (r.status_code, body["status"]) == (200, "degraded")
    [source] = body["sources"]
    assert source["status"] == "degraded" and source["last_good_load_at"] == good_at.isoformat()
    assert source["reason"].startswith("failed on its last refresh (bc_")
    assert [x.split(":")[0] for x in body["reasons"]] == ["quickbooks"]
    capsys.readouterr()
    assert qbr_cli("status") == 1
    out = capsys.readouterr().out
    assert "status    degraded" in out and "quickbooks  degraded" in out

    # 3. the source is back: exit 0 and health ok again (-v: every dbt node as well)
    qbo_sandbox.clear_faults("quickbooks")
    assert qbr_cli("-v", "refresh", "--sources", "quickbooks") == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^        dbt \d+/7 (OK|PASS) ", out, re.M)) == 7
    r = client.get(HEALTH)
    assert (r.status_code, r.get_json()["status"]) == (200, "ok")
    assert qbr_cli("status") == 0


def test_failed_build_is_exit_1_and_failing_503_until_a_good_build(rdb, qbr_cli, client, capsys):
    assert qbr_cli("refresh", "--sources", "") == 0
    assert client.get(HEALTH).get_json()["status"] == "ok"

    assert qbr_cli("refresh", "--sources", "", dbt_vars={"fail_test": True}) == 1
    r = client.get(HEALTH)
    body = r.get_json()
    assert r.status_code == 503 and body["status"] == "failing"
    assert body["error_code"] == "HEALTH_FAILING"
    assert body["last_run"]["status"] == "failed"
    assert body["last_run"]["failed_steps"] == ["dbt_build"]
    assert body["marts"] == "ok"  # the previous marts are still served
    capsys.readouterr()
    assert qbr_cli("status", "--json") == 2
    assert '"status": "failing"' in capsys.readouterr().out

    assert qbr_cli("refresh", "--sources", "") == 0
    assert client.get(HEALTH).status_code == 200


def test_stale_source_degrades_with_its_limit_from_one_setting(rdb, project):
    built = refresh.run_refresh(rdb, sources=[], trigger="test", echo=False, project_dir=project)
    assert built.status == "succeeded"
    # Two earlier successful loads, 30 h and 10 h old.
    with psycopg.connect(rdb.url, autocommit=True) as conn:
        conn.execute(
            "insert into qbr_app.refresh_runs (batch_id, status, trigger, options, "
            "created_at, started_at, finished_at) values ('bc_01JD0000000000000000000009', 'succeeded', 'test', '{}', "
            "now() - interval '31 hours', now() - interval '31 hours', "
            "now() - interval '10 hours')"
        )
        conn.execute(
            "insert into qbr_app.refresh_steps (batch_id, step_order, name, kind, status, "
            "started_at, finished_at) values "
            "('bc_01JD0000000000000000000009', 0, 'connectwise', 'source', 'succeeded', now() - interval '31 hours', "
            "now() - interval '30 hours'), "
            "('bc_01JD0000000000000000000009', 1, 'quickbooks', 'source', 'succeeded', now() - interval '11 hours', "
            "now() - interval '10 hours')"
        )
    for limits, stale in (
        ("26", {"connectwise"}),
        ("8,connectwise=48", {"quickbooks"}),
        ("48", set()),
    ):
        settings = rdb.model_copy(update={"stale_after_hours": limits})
        app = create_app({"QBR_SETTINGS": settings, "POOL_MIN_SIZE": 0})
        try:
            r = app.test_client().get(HEALTH)
        finally:
            app.extensions["qbr_pool"].close()
        body = r.get_json()
        got = {s["name"] for s in body["sources"] if s["status"] == "degraded"}
        assert got == stale, (limits, body)
        assert r.status_code == 200
        assert body["status"] == ("degraded" if stale else "ok")
        for s in body["sources"]:
            if s["name"] in stale:
                assert "staleness limit" in s["reason"], s


def test_stale_limit_setting_parses_and_refuses_garbage():
    assert parse_stale_limits("26") == (26.0, {})
    assert parse_stale_limits("") == (26.0, {})
    assert parse_stale_limits("12, quickbooks=50,NinjaOne=72") == (
        12.0,
        {"quickbooks": 50.0, "ninjaone": 72.0},
    )
    for bad in ("abc", "quickbooks=", "=5", "-3", "0"):
        with pytest.raises(QbrError, match="QBR_STALE_AFTER_HOURS"):
            parse_stale_limits(bad)
