"""API-key authentication: `X-API-Key` or `Authorization: Bearer`; scopes read/admin."""

from __future__ import annotations

from functools import wraps

from flask import g, request

from api.db import get_conn
from api.errors import ApiError
from qbr import apikeys

#: Endpoints reachable without a key (the route-walk test enforces this list).
PUBLIC_ENDPOINTS = {"qbr.health"}


def presented_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def authenticate() -> None:
    """before_request hook of the blueprint: every route but health needs a key."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    key = presented_key()
    if not key:
        raise ApiError(401, "UNAUTHORIZED", "An API key is required (X-API-Key header).")
    with get_conn() as conn:
        principal = apikeys.verify(conn, key)
        if principal is None:
            raise ApiError(401, "UNAUTHORIZED", "Invalid or revoked API key.")
        conn.execute(
            "update qbr_app.api_keys set last_used_at = now() where id = %s", (principal["id"],)
        )
    g.principal = principal


def require_scope(scope: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = g.get("principal")
            if principal is None:
                raise ApiError(401, "UNAUTHORIZED", "An API key is required.")
            if scope == "admin" and principal["scope"] != "admin":
                raise ApiError(403, "FORBIDDEN", "This action needs an admin key.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
