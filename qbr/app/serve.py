"""Serving the app: gunicorn everywhere (`qbr serve`, `make demo`, the deploy unit);
Werkzeug's reloading dev server only with `qbr serve --dev`.

gunicorn runs threaded workers (`gthread`), one process per core (at least
two) with four threads each: a request spends most of its time waiting on
PostgreSQL, keep-alive connections are kept, and each process owns one
connection pool (POOL_MAX_SIZE >= threads). The benchmarks measure this
same configuration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from qbr import db
from qbr.app import web
from qbr.refresh import child_env
from qbr.settings import Settings

THREADS_PER_WORKER = 4


def gunicorn_command(
    host: str,
    port: int,
    *,
    workers: int | None = None,
    threads: int = THREADS_PER_WORKER,
    worker_class: str = "gthread",
    app: str = "qbr.app.web:app",
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


def run(
    settings: Settings,
    host: str,
    port: int,
    production: bool = True,  # kept for callers of the old signature: always gunicorn now
    *,
    dev: bool = False,
    access_log: bool = True,
) -> int:
    """Serve in the foreground until Ctrl-C or SIGTERM; returns the server's exit code."""
    db.prepare(settings)
    if dev:
        from werkzeug.serving import run_simple

        run_simple(host, port, web.create_app(), threaded=True, use_reloader=True)
        return 0
    proc = subprocess.Popen(
        gunicorn_command(host, port, access_log=access_log),
        env=child_env(settings),  # the server sees exactly these settings
        start_new_session=True,  # our Ctrl-C handling decides how it stops
    )

    def stop(signum=signal.SIGTERM, _frame=None):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # graceful: finish requests, then exit

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            stop()
            try:
                proc.wait(timeout=35)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
