"""API latency and throughput over the marts the refresh just built: `CLIENTS`
concurrent keep-alive clients cycling through the main GETs under gunicorn
(response cache on, then off), beside the same data queries run straight
through a psycopg pool as the API's own least-privilege role.

Each run also records the CPU spent per request by the serving side (the API's
gunicorn workers, or the direct client) and by the database's backends
(`cpu_per_request`): on a shared machine throughput is bounded by CPU wherever it
is spent, so the two columns say what bounds the API beside direct psycopg.

The load generator is raw asyncio streams (a light client, so the figure is
the server's, not the client's). The direct queries are the endpoints' data
queries written out here (what a BI tool would run itself), so the bench does
not depend on the API's internals.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import time
from typing import Any

import psutil
import psycopg
from psycopg_pool import AsyncConnectionPool

from bench import harness
from bench.app import APP_CACHE_OFF, APP_CACHE_ON, api_database_url
from qbr import apikeys
from qbr.app.serve import THREADS_PER_WORKER, gunicorn_command
from qbr.settings import PROJECT_ROOT

CLIENTS = 16
#: gunicorn's factory syntax: the app with the response cache off
_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
_CLOSE = re.compile(rb"(?i)\r\nconnection:\s*close")

SMARTNUMBERS_SQL = """
select s.metric_key, s.metric_name, s.value, s.unit, s.category, s.status, s.qoq_change,
    s.yoy_change, s.inputs, s.display_order, s.is_complete, s.is_provisional,
    t.direction, t.green_min, t.green_max, t.yellow_min, t.yellow_max, t.origin
from qbr.smartnumbers as s
left join qbr.thresholds_effective as t
    on t.organization_id = s.organization_id and t.metric_key = s.metric_key
where s.organization_id = %(org)s and s.period = %(quarter)s
order by s.display_order nulls last, s.metric_key
"""
MONTHLY_SQL = """
select m.period, m.metric_key, m.metric_name, m.value, m.unit, m.category, m.source,
    m.data_source, m.collected_value, m.manual_value, m.is_complete, m.is_in_progress,
    m.coverage, m.status, m.updated_at
from qbr.metrics_monthly as m
left join qbr.metric_definitions as d on d.metric_key = m.metric_key
where m.organization_id = %(org)s and m.period between %(first)s and %(last)s
order by m.period, d.display_order nulls last, m.metric_key
"""
QUARTERLY_SQL = """
select q.period, q.metric_key, q.metric_name, q.value, q.unit, q.category, q.source,
    q.quarterly_rule, q.months_with_value, q.is_complete,
    qbr_app.threshold_status(
        q.value, t.direction, t.green_min, t.green_max, t.yellow_min, t.yellow_max
    ) as status
from qbr.metrics_quarterly as q
left join qbr.thresholds_effective as t
    on t.organization_id = q.organization_id and t.metric_key = q.metric_key
left join qbr.metric_definitions as d on d.metric_key = q.metric_key
where q.organization_id = %(org)s and q.period = %(quarter)s
order by q.period, d.display_order nulls last, q.metric_key
"""
PERIODS_SQL = """
select * from qbr.periods where organization_id = %(org)s and period_type = 'monthly'
order by period limit 100
"""
THRESHOLDS_SQL = """
select t.metric_key, d.metric_name, t.direction, t.green_min, t.green_max, t.yellow_min,
    t.yellow_max, t.origin, c.notes, c.updated_by, c.updated_at
from qbr.thresholds_effective as t
left join qbr.metric_definitions as d on d.metric_key = t.metric_key
left join qbr_app.thresholds as c
    on c.organization_id = t.organization_id and c.metric_key = t.metric_key
where t.organization_id = %(org)s
order by d.display_order nulls last, t.metric_key
limit 100
"""
DEFINITIONS_SQL = (
    "select * from qbr.metric_definitions order by display_order nulls last, metric_key"
)


def requests_for(db_url: str) -> tuple[list[str], list[tuple[str, dict]]]:
    """The endpoints (with the latest complete quarter and every reported month)
    and their data queries, side by side."""
    with psycopg.connect(db_url) as conn:
        quarter = conn.execute(
            "select max(period) from qbr.periods where organization_id = 1 "
            "and period_type = 'quarterly' and is_complete"
        ).fetchone()[0]
        first, last = conn.execute(
            "select min(period), max(period) from qbr.periods where organization_id = 1 "
            "and period_type = 'monthly'"
        ).fetchone()
    params = {"org": 1, "quarter": quarter, "first": first, "last": last}
    endpoints = [
        f"/api/qbr/smartnumbers?period={quarter}",
        f"/api/qbr/metrics/monthly?from={first}&to={last}",
        f"/api/qbr/metrics/quarterly?period={quarter}",
        "/api/qbr/periods",
        "/api/qbr/thresholds",
        "/api/qbr/metrics/definitions",
    ]
    queries = [
        (SMARTNUMBERS_SQL, params),
        (MONTHLY_SQL, params),
        (QUARTERLY_SQL, params),
        (PERIODS_SQL, params),
        (THRESHOLDS_SQL, params),
        (DEFINITIONS_SQL, {}),
    ]
    return endpoints, queries


async def _http_client(port, key, endpoints, n, stop_at, out, errors) -> None:
    reader = writer = None
    i = n
    while time.perf_counter() < stop_at:
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = (
            f"GET {endpoints[i % len(endpoints)]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-API-Key: {key}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        t0 = time.perf_counter()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = _CONTENT_LENGTH.search(head)
            await reader.readexactly(int(length.group(1)) if length else 0)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            errors.append(1)
            writer.close()
            reader = writer = None
            continue
        out.append(time.perf_counter() - t0)
        if head[9:12] != b"200":
            errors.append(head[9:12])
        if _CLOSE.search(head):
            writer.close()
            reader = writer = None
        i += 1
    if writer is not None:
        writer.close()


async def _direct_client(pool, queries, n, stop_at, out, errors) -> None:
    i = n
    while time.perf_counter() < stop_at:
        query, params = queries[i % len(queries)]
        t0 = time.perf_counter()
        try:
            async with pool.connection() as conn:
                await (await conn.execute(query, params)).fetchall()
        except psycopg.Error:
            errors.append(1)
        out.append(time.perf_counter() - t0)
        i += 1


async def _load_http(port, key, endpoints, seconds) -> tuple[list[float], float, int]:
    out: list[float] = []
    errors: list = []
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(_http_client(port, key, endpoints, n, stop_at, out, errors) for n in range(CLIENTS))
    )
    return out, time.perf_counter() - started, len(errors)


async def _load_direct(url, queries, seconds, meter=None) -> tuple[list[float], float, int]:
    out: list[float] = []
    errors: list = []
    async with AsyncConnectionPool(
        url, min_size=CLIENTS, max_size=CLIENTS, kwargs={"autocommit": True}, open=False
    ) as pool:
        await pool.wait()
        if meter is not None:
            meter.start()
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(_direct_client(pool, queries, n, stop_at, out, errors) for n in range(CLIENTS))
        )
        elapsed = time.perf_counter() - started
        if meter is not None:
            meter.stop()
        return out, elapsed, len(errors)


class CpuMeter:
    """CPU seconds spent over a run by some processes (the API's workers, or the direct
    client) and by the database's client backends, per request: on a shared 2-core
    machine throughput is bounded by CPU wherever it is spent, so this is the profile
    that says what bounds the API beside direct psycopg."""

    SQL = (
        "select pid from pg_stat_activity where datname = current_database() "
        "and backend_type = 'client backend' and pid <> pg_backend_pid()"
    )

    def __init__(self, db_url: str, processes):
        self.db_url = db_url
        self.processes = processes
        self.app = self.database = 0.0

    @staticmethod
    def _cpu(pids) -> dict[int, float]:
        out = {}
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            out[pid] = times.user + times.system
        return out

    def _backends(self) -> list[int]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            return [row[0] for row in conn.execute(self.SQL).fetchall()]

    def start(self) -> None:
        self._app0 = self._cpu(self.processes())
        self._db0 = self._cpu(self._backends())

    def stop(self) -> None:
        # a backend born during the run counts whole; one that ended is lost (rare: pools)
        app1, db1 = self._cpu(self.processes()), self._cpu(self._backends())
        self.app = sum(v - self._app0.get(pid, 0.0) for pid, v in app1.items())
        self.database = sum(v - self._db0.get(pid, 0.0) for pid, v in db1.items())

    def per_request(self, requests: int) -> dict[str, float]:
        n = max(requests, 1)
        return {
            "app_ms": round(1000 * self.app / n, 3),
            "database_ms": round(1000 * self.database / n, 3),
            "total_ms": round(1000 * (self.app + self.database) / n, 3),
        }


def summary(latencies: list[float], elapsed: float, errors: int) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [0.0] * 99
    return {
        "requests": len(ms),
        "errors": errors,
        "rps": round(len(ms) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
    }


def _workers(master: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(master).children()]
    except psutil.Error:
        return []


def _serve(ws: harness.Workspace, app: str, port: int, workers: int) -> subprocess.Popen:
    cmd = gunicorn_command(
        "127.0.0.1", port, workers=workers, threads=THREADS_PER_WORKER, app=app, access_log=False
    )
    proc = subprocess.Popen(cmd, env=ws.env, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL)
    harness.wait_http(port, "/api/qbr/health", proc)
    return proc


def measure(ws: harness.Workspace, seconds: float, on_server=None) -> dict[str, Any]:
    """Cache on, cache off, direct psycopg; `on_server(url, key)` runs against the
    cache-on server before it stops (the dashboard bench uses it)."""
    cores = harness.machine()["cores"]
    workers = max(2, cores)
    endpoints, queries = requests_for(ws.settings.url)
    key = apikeys.create(ws.settings, "bench-admin", "admin")
    result: dict[str, Any] = {
        "clients": CLIENTS,
        "seconds_per_run": seconds,
        "gunicorn": f"{workers} gthread workers x {THREADS_PER_WORKER} threads",
        "endpoints": endpoints,
    }
    for name, app in (("cache_on", APP_CACHE_ON), ("cache_off", APP_CACHE_OFF)):
        port = harness.free_port()
        proc = _serve(ws, app, port, workers)
        try:
            with harness.PeakWatcher(proc.pid, harness.whole_tree("api")) as watcher:
                asyncio.run(_load_http(port, key, endpoints, 2.0))  # warm-up
                meter = CpuMeter(ws.settings.url, lambda p=proc: _workers(p.pid))
                meter.start()
                result[name] = summary(*asyncio.run(_load_http(port, key, endpoints, seconds)))
                meter.stop()
                watcher.sample()
            result[name]["peak_rss_mb"] = watcher.peaks.get("api")
            result[name]["cpu_per_request"] = meter.per_request(result[name]["requests"])
            if name == "cache_on" and on_server is not None:
                result["dashboard"] = on_server(f"http://127.0.0.1:{port}", key)
        finally:
            harness.stop(proc)
    url = api_database_url(ws.settings)
    asyncio.run(_load_direct(url, queries, 2.0))  # warm-up
    meter = CpuMeter(ws.settings.url, lambda: [os.getpid()])
    result["direct"] = summary(*asyncio.run(_load_direct(url, queries, seconds, meter)))
    result["direct"]["cpu_per_request"] = meter.per_request(result["direct"]["requests"])
    return result
