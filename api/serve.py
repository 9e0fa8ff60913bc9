"""Serving the app: the Werkzeug server for the demo, gunicorn in production."""

from __future__ import annotations

import os
import subprocess
import sys

from qbr import db
from qbr.settings import Settings


def run(settings: Settings, host: str, port: int, production: bool = False) -> int:
    db.prepare(settings)
    if production:
        workers = str(max(2, (os.cpu_count() or 1) * 2 + 1))
        return subprocess.call(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                workers,
                "-b",
                f"{host}:{port}",
                "--access-logfile",
                "-",
                "api.wsgi:app",
            ]
        )
    from werkzeug.serving import run_simple

    from api import create_app

    run_simple(host, port, create_app(), threaded=True, use_reloader=False)
    return 0
