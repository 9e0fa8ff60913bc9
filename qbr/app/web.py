"""The web app as served: the QBR API (api/) with the dashboard (dashboard/) at /.

`gunicorn qbr.app.web:app` (what `qbr serve`, `make demo` and the deploy unit
run) or `qbr.app.web:build({...})`. The API alone is `api.wsgi:app`.

Built as api.wsgi builds the API alone: each worker warms its caches after
every refresh (api.warm; `QBR_WARM_CACHE=0` turns it off), and the objects
that live as long as the process are moved out of the garbage collector's
reach (`gc.freeze`).
"""

from __future__ import annotations

from flask import Flask

from api import create_app as create_api_app
from api import wsgi
from dashboard import dashboard_blueprint


def create_app(config: dict | None = None) -> Flask:
    """The API (config keys: api.app) plus the dashboard's pages at /."""
    app = create_api_app(config)
    app.register_blueprint(dashboard_blueprint)
    return app


def build(config: dict | None = None) -> Flask:
    """As served: caches warmed after each refresh (`QBR_WARM_CACHE`), gc frozen."""
    return wsgi.build(config, create=create_app)


__getattr__ = wsgi.lazy_app(globals(), build)
