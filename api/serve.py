"""Serving the app: the Werkzeug server for the demo, gunicorn in production.

gunicorn runs threaded workers (`gthread`), one process per core (at least
two) with four threads each: a request spends most of its time waiting on
PostgreSQL, keep-alive connections are kept, and each process owns one
connection pool (POOL_MAX_SIZE >= threads). `api/bench.py` measures this
same configuration.
"""

from __future__ import annotations

import os
import subprocess
import sys

from qbr import db
from qbr.settings import Settings

THREADS_PER_WORKER = 4


def gunicorn_command(
    host: str,
    port: int,
    *,
    workers: int | None = None,
    threads: int = THREADS_PER_WORKER,
    worker_class: str = "gthread",
    app: str = "api.wsgi:app",
    access_log: bool = True,
) -> list[str]:
    workers = workers or max(2, os.cpu_count() or 1)
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--bind",
        f"{host}:{port}",
    ]
    if access_log:
        cmd += ["--access-logfile", "-"]
    else:
        cmd += ["--log-level", "warning"]
    return [*cmd, app]


def run(settings: Settings, host: str, port: int, production: bool = False) -> int:
    db.prepare(settings)
    print(f"Dashboard: http://{host}:{port}/  (sign in with an API key)", flush=True)
    if production:
        return subprocess.call(gunicorn_command(host, port))
    from werkzeug.serving import run_simple

    from api import create_app

    run_simple(host, port, create_app(), threaded=True, use_reloader=False)
    return 0
