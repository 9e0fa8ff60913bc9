"""Each API worker warms itself after a refresh: the refresh never calls the API.

A daemon thread per app (`QBR_WARM_CACHE`, on under gunicorn via api.wsgi)
looks every `QBR_WARM_INTERVAL` seconds (default 5) at the run log for the
newest finished successful or partial refresh. When it differs from the one
it last saw (and once at start), it replays the reads the dashboard opens
with (`WARM_PATHS`) through the app itself, as the internal read-only
principal `cache-warmer`: the response cache (when on), the catalogue and
period lookups and PostgreSQL's own caches hold the new marts before the
first person asks. Only the thread can claim that principal: it is marked in
the WSGI environ under a key no HTTP header can produce.
"""

from __future__ import annotations

import threading

from flask import Flask

from api.errors import log

#: environ key of an internal warming request (headers arrive as HTTP_*, never this)
ENVIRON_KEY = "qbr.cache_warmer"
PRINCIPAL = {"id": None, "name": "cache-warmer", "scope": "read", "via": "warm"}
#: The reads the dashboard starts with (its overview and trends pages).
WARM_PATHS = (
    "/api/qbr/periods?type=monthly&limit=1000",
    "/api/qbr/periods?type=quarterly&limit=1000",
    "/api/qbr/metrics/definitions?limit=1000",
    "/api/qbr/thresholds",
    "/api/qbr/smartnumbers",
    "/api/qbr/metrics/quarterly",
    "/api/qbr/metrics/monthly",
    "/api/qbr/clients?limit=1000",
)
LATEST_SQL = """
select batch_id from qbr_app.refresh_runs
where status in ('succeeded', 'partial') and finished_at is not null
order by finished_at desc limit 1
"""


def warm(app: Flask) -> list[int]:
    """Replay WARM_PATHS through the app; their status codes."""
    client = app.test_client()
    return [client.get(path, environ_base={ENVIRON_KEY: True}).status_code for path in WARM_PATHS]


class Warmer(threading.Thread):
    def __init__(self, app: Flask, interval: float):
        super().__init__(name="qbr-cache-warmer", daemon=True)
        self.app = app
        self.interval = interval
        self.stopped = threading.Event()
        self.seen: object = object()  # nothing seen yet: the first look warms
        self.warmed = 0  # how many times it warmed (read by tests)

    def latest_batch(self) -> str | None:
        pool = self.app.extensions["qbr_pool"]
        with pool.connection(timeout=5) as conn:
            row = conn.execute(LATEST_SQL).fetchone()
        return row["batch_id"] if row else None

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                batch = self.latest_batch()
                if batch != self.seen:
                    warm(self.app)
                    self.seen = batch
                    self.warmed += 1
            except Exception as exc:  # a closed pool, a database restart: try again later
                if self.app.extensions["qbr_pool"].closed:
                    return
                log.info("cache warmer: %s", type(exc).__name__)
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()


def start(app: Flask) -> Warmer:
    warmer = Warmer(app, float(app.config.get("QBR_WARM_INTERVAL", 5)))
    app.extensions["qbr_warmer"] = warmer
    warmer.start()
    return warmer
