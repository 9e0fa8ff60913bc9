"""The web app as served: the QBR API (api/) with the dashboard (dashboard/) at /.

`gunicorn qbr.app.web:app` (what `qbr serve`, `make demo` and the deploy unit
run) or `qbr.app.web:build({...})`. The API alone is `api.wsgi:app`.

After the app is built, the objects that live as long as the process (modules,
the app, the schemas) are moved out of the garbage collector's reach
(`gc.freeze`, as api.wsgi does): otherwise each full collection walks tens of
thousands of them and stalls a request.
"""

from __future__ import annotations

import gc

from flask import Flask

from api import create_app as create_api_app
from dashboard import dashboard_blueprint


def create_app(config: dict | None = None) -> Flask:
    """The API (config keys: api.app) plus the dashboard's pages at /."""
    app = create_api_app(config)
    app.register_blueprint(dashboard_blueprint)
    return app


def build(config: dict | None = None) -> Flask:
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
