"""Least privilege: the API connects as `qbr_api`, which reads the marts and little else."""

from __future__ import annotations

import stat

import psycopg
import pytest

from qbr import db, roles


@pytest.fixture(scope="module")
def api_conn(marts_settings):
    url = roles.api_database_url(marts_settings)
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def test_the_app_pool_connects_as_the_api_role(app):
    with app.extensions["qbr_pool"].connection() as conn:
        assert conn.execute("select current_user").fetchone()["current_user"] == "qbr_api"


def test_role_and_password_file(marts_settings):
    path = marts_settings.home / roles.PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with db.connect(marts_settings) as conn:
        super_, create, login = conn.execute(
            "select rolsuper, rolcreaterole, rolcanlogin from pg_roles where rolname = 'qbr_api'"
        ).fetchone()
        verifier = conn.execute(
            "select rolpassword from pg_authid where rolname = 'qbr_api'"
        ).fetchone()[0]
    assert (super_, create, login) == (False, False, True)
    assert verifier.startswith("SCRAM-SHA-256$4096:")  # never stored or sent in clear


@pytest.mark.parametrize(
    "statement",
    [
        "select * from raw_connectwise.tickets",
        "select * from raw_quickbooks.profit_and_loss",
        "select * from inventory.device_snapshot",
        "select * from qbr_app.source_credentials",
        "select * from qbr_app.audit_log",
        "insert into qbr.periods (organization_id, period, period_type) values (1, 'x', 'monthly')",
        "update qbr.clients set client_name = 'x'",
        "delete from qbr.metric_definitions",
        "create table qbr.evil (id int)",
        "drop table qbr.smartnumbers",  # a table kept by the overlay trigger (migration 0005)
        "update qbr_app.api_keys set scope = 'admin'",
        "insert into qbr_app.api_keys (name, key_prefix, key_hash, scope) values ('x', 'x', 'x', 'admin')",
        "delete from qbr_app.audit_log",
        "update qbr_app.manual_metrics set value = 0",
        "delete from qbr_app.manual_metrics",
        "update qbr_app.refresh_runs set status = 'failed'",
        "create table qbr_app.evil (id int)",
    ],
)
def test_api_role_is_denied(api_conn, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        api_conn.execute(statement)


def test_api_role_can_do_its_job(api_conn):
    assert api_conn.execute("select count(*) from qbr.smartnumbers").fetchone()[0] > 0
    assert api_conn.execute("select count(*) from qbr.metrics_monthly").fetchone()[0] > 0
    with api_conn.transaction():
        api_conn.execute(
            "insert into qbr_app.manual_metrics (period, metric_key, value, entered_by) "
            "values ('2025-01', 'employees', 1, 'probe')"
        )
        api_conn.execute(
            "insert into qbr_app.thresholds (metric_key, direction, green_min, updated_by) "
            "values ('mrr', 'higher_is_better', 1, 'probe')"
        )
        api_conn.execute("update qbr_app.thresholds set green_min = 2 where metric_key = 'mrr'")
        api_conn.execute("delete from qbr_app.thresholds where metric_key = 'mrr'")
        api_conn.execute("update qbr_app.api_keys set last_used_at = now() where false")
        api_conn.execute("insert into qbr_app.audit_log (actor, action) values ('probe', 'probe')")
        raise psycopg.Rollback()


def test_workers_starting_together_enable_the_login_once(marts_db, caplog):
    """gunicorn's workers each call api_database_url at start; with the login not enabled
    yet they used to race on ALTER ROLE ("tuple concurrently updated": a warning)."""
    import threading

    settings = marts_db("qbr_login_race")
    with db.connect(settings) as owner:
        owner.execute(f"alter role {roles.API_ROLE} with nologin")
        owner.commit()
    barrier = threading.Barrier(6)
    urls: list[str] = []

    def worker():
        barrier.wait()
        urls.append(roles.api_database_url(settings))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    with caplog.at_level("WARNING", logger="qbr"):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.getMessage() for r in caplog.records if "login" in r.getMessage()] == []
    assert len(urls) == 6 and len(set(urls)) == 1
    with psycopg.connect(urls[0], autocommit=True) as api:
        assert api.execute("select current_user").fetchone()[0] == roles.API_ROLE


def test_grant_read_after_a_schema_swap(marts_db, world):
    """The refresh swaps qbr__build in for qbr; grants die with the old schema until re-granted."""
    settings = marts_db("qbr_swap")
    url = roles.api_database_url(settings)
    with db.connect(settings) as owner:
        owner.execute("create schema qbr__build")
        owner.execute("create table qbr__build.periods as select * from qbr.periods")
        owner.execute("alter schema qbr rename to qbr__old")
        owner.execute("alter schema qbr__build rename to qbr")
        owner.execute("drop schema qbr__old cascade")
        owner.commit()
    with (
        psycopg.connect(url, autocommit=True) as api,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        api.execute("select count(*) from qbr.periods")
    with db.connect(settings) as owner:
        roles.grant_read(owner)  # what the refresh calls inside its swap transaction
        owner.commit()
    with psycopg.connect(url, autocommit=True) as api:
        periods = api.execute("select count(*) from qbr.periods").fetchone()[0]
        assert periods == len(world.months) + len(world.quarters)
    # default privileges: a table the owner adds later (a plain dbt run) is readable too
    with db.connect(settings) as owner:
        owner.execute("create table qbr.late_model as select 1 as x")
        owner.commit()
    with psycopg.connect(url, autocommit=True) as api:
        assert api.execute("select x from qbr.late_model").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            api.execute("insert into qbr.late_model values (2)")


def test_fallback_when_the_role_cannot_exist(marts_settings, monkeypatch):
    monkeypatch.setattr(roles, "_can_connect", lambda url: False)
    monkeypatch.setattr(roles, "role_exists", lambda conn: False)
    assert roles.api_database_url(marts_settings) == marts_settings.url


def test_scram_verifier_shape():
    v = roles.scram_verifier("pw", salt=b"0123456789abcdef")
    assert v == roles.scram_verifier("pw", salt=b"0123456789abcdef")
    head, keys = v.split("$", 2)[1:]
    assert head == "4096:MDEyMzQ1Njc4OWFiY2RlZg=="
    assert len(keys.split(":")) == 2


def test_health_says_when_marts_are_not_granted(marts_db):
    """After a swap without grant_read the API answers 503 with a reason, health says why."""
    from api import create_app
    from qbr import apikeys
    from tests.api.conftest import SpecClient

    settings = marts_db("qbr_nogrant")
    with db.connect(settings) as owner:
        owner.execute("revoke all on schema qbr from qbr_api")
        owner.commit()
    app = create_app({"QBR_SETTINGS": settings, "POOL_MIN_SIZE": 1})
    try:
        client = SpecClient(app, {"X-API-Key": apikeys.create(settings, "k", "read")})
        r = client.get("/api/qbr/health")
        health = r.get_json()
        # issue 12: marts unreachable is "failing", 503 (was "degraded", 200)
        assert r.status_code == 503
        assert health["marts"] == "unreadable" and health["status"] == "failing"
        r = client.get("/api/qbr/periods")
        assert r.status_code == 503 and r.get_json()["error_code"] == "MARTS_NOT_READABLE"
    finally:
        app.extensions["qbr_pool"].close()
