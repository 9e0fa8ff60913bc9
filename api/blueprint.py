"""The `/api/qbr` blueprint: mounts into the standalone app or into an existing one.

    init_qbr(app)                          # its own pool (as the qbr_api role)
    app.register_blueprint(qbr_blueprint)  # the routes, under /api/qbr

Everything the QBR API does to a request (authentication, body limit, JSON
errors) hangs on this blueprint, never on the host app: a host's own routes
keep their behaviour and stay unauthenticated. Resources are nested
blueprints (one per resource, api/views/). A catch-all route makes unknown
paths under the prefix answer JSON 404/405 as well.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from api import auth, warm
from api.cache import LRU, MEMO_KEY
from api.db import EXTENSION_KEY, init_pool
from api.errors import ApiError, refuse_nul_bytes, register_error_handlers
from api.shapes import OpenAPI
from api.spec import CACHE_KEY, json_response, openapi_document, operation
from api.views import (
    catalog,
    clients,
    docs,
    export,
    flags,
    health,
    keys,
    manual,
    metrics,
    oidc,
    refresh,
    session,
)
from api.views import thresholds as threshold_views

URL_PREFIX = "/api/qbr"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

#: The resources, one view module each (docs/contributing/add-an-endpoint.md): a module
#: with a Blueprint `bp` whose views carry `@operation` declarations.
RESOURCES = (
    health,
    catalog,
    metrics,
    threshold_views,
    manual,
    clients,
    refresh,
    export,
    flags,
    keys,
    session,
    oidc,
    docs,
)


def _before():
    if EXTENSION_KEY not in current_app.extensions:
        raise ApiError(500, "NOT_INITIALISED", "The QBR API was mounted without init_qbr(app).")
    refuse_nul_bytes()
    auth.authenticate()


@operation(summary="This API's OpenAPI 3.1 document", tag="meta", response=OpenAPI, cache=False)
def openapi():
    return json_response(openapi_document(current_app))


def not_found(rest: str):
    """Unknown QBR paths (and known paths with a wrong method) as JSON errors."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except (NotFound, MethodNotAllowed):
            continue
        except Exception:  # a redirect or anything else: not an alternative method
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise ApiError(
        404, "NOT_FOUND", f"No QBR endpoint at {request.path}; see {URL_PREFIX}/openapi.json."
    )


not_found.qbr_scope = "read"


def build_blueprint(resources=RESOURCES) -> Blueprint:
    """The `/api/qbr` blueprint over `resources` (view modules with a `bp`)."""
    bp = Blueprint("qbr", __name__, url_prefix=URL_PREFIX)
    bp.before_request(_before)
    register_error_handlers(bp)
    for resource in resources:
        bp.register_blueprint(resource.bp)
    bp.add_url_rule("/openapi.json", view_func=openapi, methods=["GET"])
    bp.add_url_rule("/", "not_found", view_func=not_found, defaults={"rest": ""}, methods=METHODS)
    bp.add_url_rule("/<path:rest>", "not_found", view_func=not_found, methods=METHODS)
    return bp


qbr_blueprint = build_blueprint()


def init_qbr(app: Flask, database_url: str | None = None, *, settings=None, **pool_kwargs) -> None:
    """Attach the QBR API's own connection pool (and settings, for refresh) to `app`.

    Without `database_url` the pool connects as the least-privilege role
    `qbr_api` (qbr.roles), derived from `settings` (default: qbr.settings).
    """
    from qbr import roles
    from qbr.settings import get_settings

    settings = settings or get_settings()
    app.extensions["qbr_settings"] = settings
    oidc.configure(app, settings)  # QBR_OIDC_ENABLED / QBR_OIDC_LABEL for the sign-in page
    app.extensions[CACHE_KEY] = LRU(int(app.config.get("QBR_RESPONSE_CACHE", 512)))
    app.extensions[MEMO_KEY] = LRU(256)
    url = database_url or roles.api_database_url(settings)
    init_pool(app, url, **pool_kwargs)
    if app.config.get("QBR_WARM_CACHE"):
        warm.start(app)  # warms itself after each refresh (api.warm)
