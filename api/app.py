"""Standalone API app factory: defaults, then environment (qbr.settings), then the given config.

The API alone (`gunicorn api.wsgi:app`); the app `qbr serve` runs adds the
dashboard at / (qbr.app.web).

Config keys (all optional):
- DATABASE_URL: connect with this URL instead of the `qbr_api` role (tests, operators
  who manage roles themselves);
- QBR_SETTINGS: a qbr.settings.Settings (default: get_settings()), used for the API
  role's login and by POST /refresh;
- POOL_MIN_SIZE / POOL_MAX_SIZE: the connection pool's bounds (default 2 / 8);
- QBR_MAX_BODY: largest JSON body in bytes (default 64 KiB);
- QBR_SESSION_TTL: dashboard session lifetime in seconds (default 12 h);
- SESSION_COOKIE_SECURE: mark the session cookies Secure even behind plain HTTP
  (they are whenever the request itself is HTTPS);
- QBR_ORGANIZATION_ID: the organization served (default 1);
- QBR_SESSION_COOKIE_PATH: path of the session cookies (default `/`, so the
  dashboard's pages see them too);
- QBR_RESPONSE_CACHE: entries of the per-worker response cache (default 512, 0: off);
- QBR_WARM_CACHE: warm this app's caches after each refresh (api.warm; default off
  here; on under gunicorn (api.wsgi, qbr.app.web) unless QBR_WARM_CACHE=0 is set);
- QBR_WARM_INTERVAL: seconds between the warmer's looks at the run log (default 5).
"""

from __future__ import annotations

from flask import Flask

from api import warm
from api.blueprint import init_qbr, qbr_blueprint


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=1024 * 1024)
    if config:
        app.config.update(config)
    want_warm = bool(app.config.get("QBR_WARM_CACHE"))
    app.config["QBR_WARM_CACHE"] = False  # started below, once the routes are registered
    init_qbr(
        app,
        app.config.get("DATABASE_URL"),
        settings=app.config.get("QBR_SETTINGS"),
        min_size=int(app.config.get("POOL_MIN_SIZE", 2)),
        max_size=int(app.config.get("POOL_MAX_SIZE", 8)),
    )
    app.register_blueprint(qbr_blueprint)
    app.config["QBR_WARM_CACHE"] = want_warm
    if want_warm:  # its first request would close the app to further setup (api.wsgi)
        warm.start(app)
    return app
