"""After a refresh each API worker warms itself (api.warm); the refresh never calls it."""

from __future__ import annotations

import time

from api import create_app, etag, warm
from api.spec import CACHE_KEY
from qbr import db
from tests.api.world import RUN_PARTIAL


def _wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout}s: {predicate}")


def _cached_paths(app, tag: str) -> set[str]:
    cache = app.extensions[CACHE_KEY]
    return {
        f"{path}?{query.decode()}" if query else path
        for (key_tag, path, query) in list(cache._data)
        if key_tag == tag
    }


def test_a_new_successful_batch_warms_the_worker(marts_db):
    settings = marts_db("qbr_warm")
    app = create_app(
        {
            "QBR_SETTINGS": settings,
            "POOL_MIN_SIZE": 1,
            "QBR_WARM_CACHE": True,
            "QBR_WARM_INTERVAL": 0.05,
        }  # fmt: skip
    )
    warmer = app.extensions["qbr_warmer"]
    try:
        # at start: the latest successful batch is new to it, so it warms once
        _wait_for(lambda: warmer.warmed >= 1)
        assert warmer.seen == RUN_PARTIAL
        with db.connect(settings) as conn:
            tag = etag.current(conn)
        assert _cached_paths(app, tag) == set(warm.WARM_PATHS)
        # every warming read answered 200 (as a reader would see it)
        assert warm.warm(app) == [200] * len(warm.WARM_PATHS)

        # a refresh finishes (the run log is all the API sees of it)
        with db.connect(settings) as conn:
            conn.execute(
                "insert into qbr_app.refresh_runs (batch_id, status, trigger, options, "
                "progress, created_at, started_at, finished_at) values "
                "('bc_01JD0000000000000000000099', 'succeeded', 'cli', '{}', 100, now(), "
                "now(), now())"
            )
            conn.commit()
            new_tag = etag.current(conn)
        assert new_tag != tag
        _wait_for(lambda: warmer.seen == "bc_01JD0000000000000000000099")
        assert warmer.warmed == 2
        assert _cached_paths(app, new_tag) == set(warm.WARM_PATHS)
    finally:
        warmer.stop()
        warmer.join(timeout=10)
        app.extensions["qbr_pool"].close()


def test_no_http_request_can_claim_the_warmer(reader, api):
    for header in ("qbr.cache_warmer", "Qbr-Cache-Warmer", "X-Qbr-Cache-Warmer"):
        r = api.get("/api/qbr/smartnumbers", headers={header: "True"})
        assert r.status_code == 401, header
    # a real key still reads as itself
    assert reader.get("/api/qbr/session").get_json()["key_name"] == "test-read"


def test_the_warmer_starts_only_after_every_blueprint_is_registered(marts_db, monkeypatch):
    """Its first request closes the app to setup: started earlier (inside init_qbr), a
    later register_blueprint (the dashboard's, qbr.app.web) raised and the gunicorn
    worker failed to boot whenever the warmer was quicker (a loaded machine)."""
    from flask import Blueprint

    from api import wsgi

    settings = marts_db("qbr_warm_order")
    started_with = []
    monkeypatch.setattr(
        warm,
        "start",
        lambda app: started_with.append({"qbr", "registered_later"} & set(app.blueprints)),
    )

    def create(config):
        app = create_app(config)
        app.register_blueprint(Blueprint("registered_later", __name__))
        return app

    for build in (wsgi.build, lambda config: wsgi.build(config, create=create)):
        app = build({"QBR_SETTINGS": settings, "POOL_MIN_SIZE": 1, "QBR_WARM_CACHE": True})
        app.extensions["qbr_pool"].close()
    app = create_app({"QBR_SETTINGS": settings, "POOL_MIN_SIZE": 1, "QBR_WARM_CACHE": True})
    app.extensions["qbr_pool"].close()
    assert started_with == [{"qbr"}, {"qbr", "registered_later"}, {"qbr"}]
