"""WSGI entry point for gunicorn: `gunicorn api.wsgi:app` (or `api.wsgi:build({...})`).

Each worker warms its own caches after every refresh (api.warm) unless
`QBR_WARM_CACHE=0` is in the environment.

After the app is built, the objects that live as long as the process (modules,
the app, the schemas) are moved out of the garbage collector's reach
(`gc.freeze`): otherwise each full collection walks ~75 000 of them and
stalls a request for tens of milliseconds, which is what the p99 latency saw.
"""

from __future__ import annotations

import gc
import os

from flask import Flask

from api import create_app


def build(config: dict | None = None) -> Flask:
    config = {"QBR_WARM_CACHE": os.environ.get("QBR_WARM_CACHE", "1") != "0", **(config or {})}
    app = create_app(config)
    gc.collect()
    gc.freeze()
    return app


def __getattr__(name: str) -> Flask:
    """`app` is built on first access, so importing `build` alone builds nothing."""
    if name == "app":
        app = build()
        globals()["app"] = app
        return app
    raise AttributeError(name)
