"""Standalone app factory: defaults, then environment (qbr.settings), then test config."""

from __future__ import annotations

from flask import Flask

from api.blueprint import init_qbr, qbr_blueprint


def create_app(config: dict | None = None) -> Flask:
    from qbr.settings import get_settings

    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=256 * 1024, JSON_SORT_KEYS=False)
    if config:
        app.config.update(config)
    url = app.config.get("DATABASE_URL") or get_settings().url
    init_qbr(app, url, max_size=int(app.config.get("POOL_MAX_SIZE", 8)))
    app.register_blueprint(qbr_blueprint)
    return app
