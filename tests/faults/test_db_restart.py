"""The API rides out a database restart (issue 13 item 5).

Before: the pool handed out connections the restarted server had closed, and
the first reads after `qbr db stop; qbr db start` answered 503. Now every
checkout is checked (`ConnectionPool.check_connection`) and a dead connection
is replaced.
"""

from __future__ import annotations

from api import create_app
from qbr import apikeys, db, embedded
from tests.api.conftest import SpecClient

API = "/api/qbr"


def test_reads_after_a_database_restart_succeed(private_cluster):
    settings = private_cluster
    db.prepare(settings)
    key = apikeys.create(settings, "restart-reader", "read")
    # several idle connections in the pool, all of which the restart will kill
    app = create_app({"QBR_SETTINGS": settings, "POOL_MIN_SIZE": 3, "POOL_MAX_SIZE": 3})
    try:
        client = SpecClient(app, {"X-API-Key": key})
        assert client.get(f"{API}/refresh").status_code == 200
        pool = app.extensions["qbr_pool"]
        pool.wait(timeout=10)
        assert pool.get_stats()["pool_available"] == 3

        assert not embedded.stop(settings).running
        assert embedded.start(settings).running

        for _ in range(5):  # more reads than the pool has connections
            r = client.get(f"{API}/refresh")
            assert r.status_code == 200, r.get_json()
            assert r.get_json() == {"runs": [], "total": 0, "limit": 100, "offset": 0}
        health = client.get(f"{API}/health")
        body = health.get_json()
        # the database answers again; this throwaway database has no marts, so health
        # may fail for that reason (503 HEALTH_FAILING), never for an unreachable database
        assert body["database"] == "ok", body
        assert body.get("error_code") != "DATABASE_UNAVAILABLE", body
    finally:
        app.extensions["qbr_pool"].close()
