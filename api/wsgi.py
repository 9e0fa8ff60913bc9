"""WSGI entry point for gunicorn: `gunicorn api.wsgi:app` (or `api.wsgi:build({...})`).

Each worker warms its own caches after every refresh (api.warm) unless
`QBR_WARM_CACHE=0` is in the environment.

After the app is built, the objects that live as long as the process (modules,
the app, the schemas) are moved out of the garbage collector's reach
(`gc.freeze`): otherwise each full collection walks ~75 000 of them and
stalls a request for tens of milliseconds, which is what the p99 latency saw.

`build` and `lazy_app` also serve `qbr.app.web` (the API with the dashboard).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

from flask import Flask

from api import create_app, warm


def build(config: dict | None = None, create: Callable[[dict], Flask] = create_app) -> Flask:
    config = {"QBR_WARM_CACHE": os.environ.get("QBR_WARM_CACHE", "1") != "0", **(config or {})}
    # The warmer replays requests through the app: started only once `create` has
    # registered every blueprint. Started inside it (init_qbr), its first request could
    # come before a later register_blueprint (qbr.app.web adds the dashboard), which
    # Flask refuses ("can no longer be called ... already handled its first request"):
    # the worker failed to boot and gunicorn exited (seen on a loaded machine).
    want_warm = bool(config["QBR_WARM_CACHE"])
    app = create({**config, "QBR_WARM_CACHE": False})
    app.config["QBR_WARM_CACHE"] = want_warm
    if want_warm:
        warm.start(app)
    gc.collect()
    gc.freeze()
    return app


def lazy_app(module_globals: dict[str, Any], build_app: Callable[[], Flask]):
    """A module `__getattr__` that builds `app` on first access, so importing a
    module's `build` alone builds nothing."""

    def __getattr__(name: str) -> Flask:
        if name == "app":
            app = build_app()
            module_globals["app"] = app
            return app
        raise AttributeError(name)

    return __getattr__


__getattr__ = lazy_app(globals(), build)
