"""The pool's checkout check (api.db.check_idle) costs no round trip on a healthy idle
connection and still replaces one the server closed, without a failed request."""

from __future__ import annotations

import time

import psycopg

from api.db import check_idle
from tests.api.conftest import SpecClient, _make_app

API = "/api/qbr"


def _terminate(settings, pid: int) -> None:
    """End backend `pid` as the server does on a restart or an idle timeout, and wait
    until it is gone."""
    with psycopg.connect(settings.url, autocommit=True) as owner:
        assert owner.execute("select pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        deadline = time.monotonic() + 10
        while owner.execute(
            "select count(*) from pg_stat_activity where pid = %s", (pid,)
        ).fetchone()[0]:
            assert time.monotonic() < deadline, f"backend {pid} still there"
            time.sleep(0.05)


def test_check_idle_passes_a_live_connection_and_refuses_a_closed_one(marts_settings):
    with psycopg.connect(marts_settings.url, autocommit=True) as conn:
        pid = conn.info.backend_pid
        check_idle(conn)  # live and idle: nothing to read, no query sent
        assert conn.execute("select pg_backend_pid()").fetchone()[0] == pid
        _terminate(marts_settings, pid)
        try:
            check_idle(conn)
        except psycopg.OperationalError:
            pass
        else:
            raise AssertionError("a connection whose backend was terminated passed the check")


def test_reads_after_the_server_closed_the_pooled_connection_succeed(marts_settings, keys):
    app = _make_app(marts_settings, POOL_MAX_SIZE=1)
    try:
        client = SpecClient(app, {"X-API-Key": keys["read"]})
        pool = app.extensions["qbr_pool"]
        for _ in range(3):  # a healthy connection is handed out again, not replaced
            assert client.get(f"{API}/metrics/definitions").status_code == 200
        assert pool.get_stats().get("connections_lost", 0) == 0
        conn = pool.getconn(timeout=5)
        pid = conn.info.backend_pid
        pool.putconn(conn)

        _terminate(marts_settings, pid)

        r = client.get(f"{API}/metrics/definitions")
        assert r.status_code == 200, r.get_json()
        assert pool.get_stats()["connections_lost"] == 1
        conn = pool.getconn(timeout=5)
        assert conn.info.backend_pid != pid
        pool.putconn(conn)
    finally:
        app.extensions["qbr_pool"].close()
