"""API benchmark: p50/p99 latency and requests/s of the main GETs under gunicorn,
beside the same data queries run straight through psycopg.

    python -m api.bench [--clients 16] [--seconds 10] [--workers N] [--threads T]

It creates a throwaway database on the configured server, fills it with the
hand-made marts of the API tests (tests/api/marts_fixture.py: the real marts
come from a dbt build, which a benchmark should not depend on), creates a read
key, starts gunicorn on a free port (workers sized to the machine), then:

1. HTTP: `--clients` threads, each on its own keep-alive connection, cycle
   through the endpoints for `--seconds`;
2. direct: the same number of threads run the endpoints' data queries through
   a psycopg pool (as the same least-privilege role), for the same time.

It prints both and the ratio, and exits non-zero when a target is missed
(p99 < 25 ms; HTTP throughput >= 50 % of direct). The database is dropped
and gunicorn stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time

import psycopg
from psycopg_pool import AsyncConnectionPool

from api import roles
from api.serve import THREADS_PER_WORKER, gunicorn_command
from api.views import metrics, thresholds
from qbr import apikeys, db, migrate
from qbr.settings import PROJECT_ROOT, Settings, get_settings

ENDPOINTS = [
    "/api/qbr/smartnumbers",
    "/api/qbr/metrics/monthly",
    "/api/qbr/metrics/quarterly?period=2025-Q1",
    "/api/qbr/periods",
    "/api/qbr/thresholds",
    "/api/qbr/metrics/definitions",
]
#: gunicorn's factory syntax: the app with the response cache off.
APP_NO_CACHE = "api.wsgi:build({'QBR_RESPONSE_CACHE': 0})"
P99_TARGET_MS = 25.0
_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
_CLOSE = re.compile(rb"(?i)\r\nconnection:\s*close")
RATIO_TARGET = 0.5


def _direct_queries() -> list[tuple[str, dict]]:
    """The data queries behind ENDPOINTS (what a BI tool would run itself)."""
    return [
        (metrics.SMARTNUMBERS_SQL, {"org": 1, "period": "2025-Q1", "keys": None}),
        (
            metrics.MONTHLY_SQL,
            {"org": 1, "first": "2025-03", "last": "2025-03", "keys": None, "source": None},
        ),
        (
            metrics.QUARTERLY_SQL,
            {"org": 1, "first": "2025-Q1", "last": "2025-Q1", "keys": None, "source": None},
        ),
        (
            "select * from qbr.periods where organization_id = %(org)s "
            "and period_type = 'monthly' order by period limit 100",
            {"org": 1},
        ),
        (thresholds.LIST_SQL, {"org": 1, "key": None, "limit": 100, "offset": 0}),
        (
            "select * from qbr.metric_definitions order by display_order nulls last, metric_key",
            {},
        ),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _http_client(port: int, key: str, n: int, stop_at: float, out: list, errors: list):
    """One keep-alive HTTP/1.1 connection cycling through ENDPOINTS (raw asyncio streams:
    a light client, so the measurement is the server's, not the load generator's)."""
    reader = writer = None
    i = n
    while time.perf_counter() < stop_at:
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = (
            f"GET {ENDPOINTS[i % len(ENDPOINTS)]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
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


async def _direct_client(pool, n: int, stop_at: float, out: list, errors: list):
    queries = _direct_queries()
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


async def _load(kind: str, target: dict, clients: int, seconds: float):
    out: list[float] = []
    errors: list = []
    stop_at = time.perf_counter() + seconds
    started = time.perf_counter()
    if kind == "http":
        await asyncio.gather(
            *(
                _http_client(target["port"], target["key"], n, stop_at, out, errors)
                for n in range(clients)
            )
        )
    else:
        async with AsyncConnectionPool(
            target["url"], min_size=clients, max_size=clients, kwargs={"autocommit": True}
        ) as pool:
            await pool.wait()
            stop_at = time.perf_counter() + seconds
            started = time.perf_counter()
            await asyncio.gather(
                *(_direct_client(pool, n, stop_at, out, errors) for n in range(clients))
            )
    return out, time.perf_counter() - started, len(errors)


def _run_clients(kind: str, target: dict, clients: int, seconds: float):
    """`clients` concurrent clients for `seconds`: (latencies in s, elapsed s, errors)."""
    return asyncio.run(_load(kind, target, clients, seconds))


def _summary(name: str, lat: list[float], elapsed: float, errors: int) -> dict:
    lat_ms = sorted(x * 1000 for x in lat)
    p = statistics.quantiles(lat_ms, n=100) if len(lat_ms) > 1 else [0.0] * 99
    result = {
        "name": name,
        "requests": len(lat_ms),
        "errors": errors,
        "rps": len(lat_ms) / elapsed if elapsed else 0.0,
        "p50": p[49],
        "p99": p[98],
    }
    print(
        f"{name:>8}: {result['requests']:>7} requests  {result['rps']:>8.0f} req/s  "
        f"p50 {result['p50']:6.2f} ms  p99 {result['p99']:6.2f} ms  errors {errors}"
    )
    return result


def _wait_for(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited early")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/api/qbr/health")
            if c.getresponse().status in (200, 503):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer")


def _server_env(bench: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "QBR_ENV_FILE": os.devnull,
            "QBR_HOME": str(bench.home),
            "QBR_PG_PORT": str(bench.pg_port),
            "QBR_DB_NAME": str(bench.db_parts()["dbname"]),
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    if bench.database_url:
        env["QBR_DATABASE_URL"] = bench.database_url
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.bench", description=__doc__.split("\n")[0])
    cores = os.cpu_count() or 1
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=max(2, cores), help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=THREADS_PER_WORKER, help="threads per gunicorn worker"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="turn the response cache off (every GET queries)"
    )
    parser.add_argument(
        "--worker-class", default="gthread", choices=["gthread", "sync"], help="gunicorn worker"
    )
    args = parser.parse_args(argv)

    from tests.api import marts_fixture  # the benchmark's data: the API tests' marts

    base = get_settings()
    db.ensure_server(base)
    name = f"qbr_bench_{secrets.token_hex(4)}"
    bench = base.model_copy(update={"db_name": name})
    if bench.database_url:
        bench = bench.model_copy(update={"database_url": bench.url_for(name)})
    db.ensure_database(bench, name)
    proc = None
    try:
        migrate.upgrade(bench)
        marts_fixture.load(bench)
        key = apikeys.create(bench, f"bench-{secrets.token_hex(3)}", "read")
        port = _free_port()
        cmd = gunicorn_command(
            "127.0.0.1",
            port,
            workers=args.workers,
            threads=args.threads,
            worker_class=args.worker_class,
            app=APP_NO_CACHE if args.no_cache else "api.wsgi:app",
            access_log=False,
        )
        print(
            f"gunicorn: {args.workers} {args.worker_class} workers x {args.threads} threads on "
            f"{cores} cores; response cache {'off' if args.no_cache else 'on'}; "
            f"{args.clients} concurrent clients; "
            f"{args.seconds:.0f} s per run"
        )
        proc = subprocess.Popen(cmd, env=_server_env(bench), cwd=PROJECT_ROOT)
        _wait_for(port, proc)
        target = {"port": port, "key": key}
        # warm-up first: pools filled, statements prepared, responses cached
        _run_clients("http", target, args.clients, 2.0)
        http_res = _summary("http", *_run_clients("http", target, args.clients, args.seconds))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc = None

        direct = {"url": roles.api_database_url(bench)}
        _run_clients("direct", direct, args.clients, 2.0)
        direct_res = _summary("direct", *_run_clients("direct", direct, args.clients, args.seconds))
        ratio = http_res["rps"] / direct_res["rps"] if direct_res["rps"] else 0.0
        print(f"   ratio: HTTP throughput is {ratio:.0%} of direct psycopg")
        ok = http_res["p99"] < P99_TARGET_MS and ratio >= RATIO_TARGET and not http_res["errors"]
        print(
            f" targets: p99 < {P99_TARGET_MS:.0f} ms and >= {RATIO_TARGET:.0%} of direct: "
            + ("met" if ok else "MISSED")
        )
        return 0 if ok else 1
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(psycopg.Error):
            db.drop_database(base, name)


if __name__ == "__main__":
    sys.exit(main())
