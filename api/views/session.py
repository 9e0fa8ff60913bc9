"""Dashboard sign-in: exchange an API key for an HTTP-only session cookie (see api.sessions)."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, current_app, g, request
from pydantic import Field

from api import sessions
from api.auth import audit
from api.db import get_conn, iso
from api.shapes import Shape, Timestamp
from api.spec import json_response, operation

bp = Blueprint("session", __name__)


class Session(Shape):
    key_name: str
    scope: Literal["read", "admin"]
    via: Literal["key", "session"]
    expires_at: Timestamp
    csrf_token: str = Field(default=None, description="Send as X-CSRF-Token on cookie writes.")


class LoggedOut(Shape):
    logged_out: bool


def _cookie_path() -> str:
    """`/` by default: the dashboard's pages (at `/` or wherever a host mounts them)
    must see the cookie to tell a signed-in visitor from one to send to sign-in."""
    return current_app.config.get("QBR_SESSION_COOKIE_PATH", "/")


def _secure() -> bool:
    return bool(request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE"))


def open_session(key_id: int, name: str, scope: str, via: str, ttl: int | None = None) -> tuple:
    """A new server-side session for a key (or an OIDC user's key row): (created, ttl).

    The caller sets the cookies with `set_session_cookies` on its response.
    """
    ttl = ttl or int(current_app.config.get("QBR_SESSION_TTL", sessions.DEFAULT_TTL_SECONDS))
    conn = get_conn()
    with conn.transaction():
        created = sessions.create(conn, key_id, ttl)
        audit("session.create", name, {"session_id": created["id"], "signed_in_with": via})
    return created, ttl


def set_session_cookies(resp, created: dict, ttl: int) -> None:
    common = {"max_age": ttl, "path": _cookie_path(), "secure": _secure(), "samesite": "Strict"}
    resp.set_cookie(sessions.COOKIE, created["token"], httponly=True, **common)
    resp.set_cookie(sessions.CSRF_COOKIE, created["csrf"], httponly=False, **common)
    resp.headers["Cache-Control"] = "no-store"


@bp.post("/session")
@operation(
    summary="Sign in: exchange the API key for a session cookie",
    tag="session",
    response=Session,
    status=201,
    scope="read",
    key_only=True,
    description="Send the key as X-API-Key (or Bearer). Sets `qbr_session` (HttpOnly, "
    "SameSite=Strict) and `qbr_csrf` (readable by the page); cookie-authenticated writes "
    "must send the csrf_token as X-CSRF-Token.",
)
def session_create():
    p = g.principal
    created, ttl = open_session(p["id"], p["name"], p["scope"], "key")
    resp = json_response(
        {
            "key_name": p["name"],
            "scope": p["scope"],
            "via": "session",
            "expires_at": iso(created["expires_at"]),
            "csrf_token": created["csrf"],
        },
        201,
    )
    set_session_cookies(resp, created, ttl)
    return resp


@bp.get("/session")
@operation(summary="Who am I: the key or session in use", tag="session", response=Session)
def session_info():
    p = g.principal
    return json_response(
        {
            "key_name": p["name"],
            "scope": p["scope"],
            "via": p["via"],
            "expires_at": iso(p.get("expires_at")),
        }
    )


@bp.delete("/session")
@operation(
    summary="Sign out: end the session and clear its cookies",
    tag="session",
    response=LoggedOut,
    scope="read",
)
def session_delete():
    conn = get_conn()
    session_id = g.principal.get("session_id")
    if session_id is None and request.cookies.get(sessions.COOKIE):
        found = sessions.lookup(conn, request.cookies[sessions.COOKIE])
        session_id = found["session_id"] if found else None
    with conn.transaction():
        if session_id is not None:
            sessions.delete(conn, session_id)
        audit("session.delete", g.principal["name"], {"session_id": session_id})
    resp = json_response({"logged_out": session_id is not None})
    for name in (sessions.COOKIE, sessions.CSRF_COOKIE):
        resp.delete_cookie(name, path=_cookie_path(), secure=_secure(), samesite="Strict")
    return resp
