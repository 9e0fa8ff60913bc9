"""Who is calling: an API key (`X-API-Key` or `Authorization: Bearer`) or a session cookie.

Runs as the QBR blueprint's before_request hook, so it covers every QBR route
and none of a host app's. Only operations declared `scope="public"` (health)
are open; everything else needs a live key or session (401), writes need an
admin key (403), and cookie-authenticated writes need the CSRF header (403).
Keys are compared by hash (qbr.apikeys.verify) and never logged.
"""

from __future__ import annotations

from flask import current_app, g, request
from psycopg.types.json import Jsonb

from api import etag, sessions, warm
from api.db import get_conn
from api.errors import ApiError
from api.spec import DEFAULT_MAX_BODY, operation_of
from qbr import apikeys

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="qbr", charset="UTF-8"'}


def presented_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key is not None:
        return key.strip()
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, CHALLENGE)


def required_scope() -> str:
    op = operation_of(request.endpoint)
    if op is not None:
        return op.scope
    view = current_app.view_functions.get(request.endpoint or "")
    default = "read" if request.method in SAFE_METHODS else "admin"
    return getattr(view, "qbr_scope", default)


def authenticate() -> None:
    """before_request of the QBR blueprint."""
    # one byte over the limit: a chunked body (no Content-Length) is then read up to
    # limit + 1 bytes, so `api.spec.parse_body` can tell "too large" (413) from "exactly
    # the limit"; werkzeug would otherwise cut it at the limit without a word
    request.max_content_length = current_app.config.get("QBR_MAX_BODY", DEFAULT_MAX_BODY) + 1
    scope = required_scope()
    if scope == "public":
        return
    op = operation_of(request.endpoint)
    # A cached GET also needs the data version: fetched in the same round trip.
    extra = etag.STATE_COLUMNS if op is not None and op.cache else ""
    key = presented_key()
    if request.environ.get(warm.ENVIRON_KEY) is True and request.method == "GET":
        # the worker's own cache warmer (api.warm): set in the WSGI environ, which no
        # HTTP request can reach (headers arrive as HTTP_*)
        principal = {**warm.PRINCIPAL, "extra": None}
        if extra:
            g.qbr_tag = etag.current(get_conn())
        extra = ""
    elif key is not None:
        principal = apikeys.verify(get_conn(), key, touch=True, extra_columns=extra)
        if principal is None:
            raise _unauthorized("Invalid or revoked API key.")
        principal["via"] = "key"
    else:
        token = request.cookies.get(sessions.COOKIE)
        if not token:
            raise _unauthorized("An API key is required (X-API-Key header or Bearer token).")
        if op is not None and op.key_only:
            raise _unauthorized("This action needs an API key, not a session.")
        principal = sessions.lookup(get_conn(), token, extra)
        if principal is None:
            raise _unauthorized("The session has expired or was closed; sign in again.")
        principal["via"] = "session"
        if request.method not in SAFE_METHODS and not sessions.csrf_ok(
            principal, request.headers.get(sessions.CSRF_HEADER)
        ):
            audit_refusal(principal, "CSRF_FAILED")
            raise ApiError(
                403,
                "CSRF_FAILED",
                f"Writes with a session cookie need the {sessions.CSRF_HEADER} header "
                "returned by POST /session.",
            )
    if extra:
        g.qbr_tag = etag.tag_from(principal["extra"])
    g.principal = principal
    if scope == "admin" and principal["scope"] != "admin":
        audit_refusal(principal, "FORBIDDEN")
        raise ApiError(403, "FORBIDDEN", "This action needs an admin key.")


def org_id() -> int:
    return int(current_app.config.get("QBR_ORGANIZATION_ID", 1))


def audit_refusal(principal: dict, error_code: str) -> None:
    """Record a refused request (403: scope too small, CSRF header missing) in the audit
    log, committed at once: who tried what, so an attempt is traceable like a write."""
    get_conn().execute(
        "insert into qbr_app.audit_log (organization_id, actor, action, target, details) "
        "values (%s, %s, 'request.refused', %s, %s)",
        (
            org_id(),
            principal["name"],
            f"{request.method} {request.path}",
            Jsonb(
                {
                    "error_code": error_code,
                    "scope": principal["scope"],
                    "endpoint": request.endpoint,
                    "via": principal["via"],
                }
            ),
        ),
    )


def audit(action: str, target: str | None, details: dict | None = None) -> None:
    """Record a write (who, what, on what, when) in qbr_app.audit_log."""
    principal = g.principal
    get_conn().execute(
        "insert into qbr_app.audit_log (organization_id, actor, action, target, details) "
        "values (%s, %s, %s, %s, %s)",
        (
            org_id(),
            principal["name"],
            action,
            target,
            Jsonb({**(details or {}), "via": principal["via"]}),
        ),
    )
