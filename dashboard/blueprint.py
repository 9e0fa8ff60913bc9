"""Dashboard routes: one URL per screen, each a server-rendered page shell.

The pages carry no numbers of their own: `static/dashboard.js` reads the
QBR JSON API (same origin, the session cookie) and renders them, so the API
stays the single source of truth. What the server decides per page is only
who is asking: no session cookie -> the sign-in page; a cookie whose session
has expired or was closed -> the sign-in page with a message (never a JSON
error); a read-scope session -> the same pages with write controls left out.

Assets are served from `static/` with gzip (cached in memory per file
version) and a long cache lifetime; their URLs carry the file's mtime.
"""

from __future__ import annotations

import gzip
import mimetypes
import threading
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from api import sessions
from api.db import EXTENSION_KEY, get_conn

STATIC_DIR = Path(__file__).parent / "static"
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")

dashboard_blueprint = Blueprint("qbr_dashboard", __name__, template_folder="templates")

_gz_cache: dict[tuple[str, int], bytes] = {}
_gz_lock = threading.Lock()


# ---------------------------------------------------------------- helpers


def api_base() -> str:
    """Where the QBR API blueprint is mounted (its session route, minus /session)."""
    return url_for("qbr.session.session_info").rsplit("/", 1)[0]


def asset(path: str) -> str:
    f = STATIC_DIR / path
    version = int(f.stat().st_mtime) if f.is_file() else 0
    return url_for("qbr_dashboard.static_asset", path=path, v=version)


def vendor_ready() -> bool:
    return (STATIC_DIR / "vendor" / "uplot" / "uPlot.iife.min.js").is_file()


def _organization() -> str:
    org_id = int(current_app.config.get("QBR_ORGANIZATION_ID", 1))
    try:
        row = (
            get_conn()
            .execute("select name from qbr_app.organization where id = %s", (org_id,))
            .fetchone()
        )
    except Exception:  # the sign-in page must render even with the database down
        return current_app.config.get("QBR_ORG_NAME", "QBR")
    return row["name"] if row else "QBR"


def _principal() -> dict | None:
    token = request.cookies.get(sessions.COOKIE)
    if not token:
        return None
    return sessions.lookup(get_conn(), token)


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target  # browsers read /\host as //host
    ):
        return None
    return target


def _signin_redirect(expired: bool) -> Response:
    args = {"next": request.full_path.rstrip("?")}
    if expired:
        args["expired"] = "1"
    resp = redirect(url_for("qbr_dashboard.signin", **args))
    if expired:
        for name in (sessions.COOKIE, sessions.CSRF_COOKIE):
            resp.delete_cookie(name, path=current_app.config.get("QBR_SESSION_COOKIE_PATH", "/"))
    return resp


def _page(view: str, title: str, **context):
    if EXTENSION_KEY not in current_app.extensions:
        abort(500, "The QBR dashboard needs init_qbr(app) (the API's connection pool).")
    principal = _principal()
    if principal is None:
        return _signin_redirect(expired=bool(request.cookies.get(sessions.COOKIE)))
    g.qbr_dashboard_principal = principal
    html = render_template(
        "page.html",
        view=view,
        title=title,
        organization=_organization(),
        principal=principal,
        is_admin=principal["scope"] == "admin",
        api_base=api_base(),
        asset=asset,
        vendor_ready=vendor_ready(),
        ctx=context,
    )
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ---------------------------------------------------------------- pages


@dashboard_blueprint.get("/signin")
def signin():
    if EXTENSION_KEY not in current_app.extensions:
        abort(500, "The QBR dashboard needs init_qbr(app) (the API's connection pool).")
    principal = _principal() if request.cookies.get(sessions.COOKIE) else None
    target = _safe_next(request.args.get("next")) or url_for("qbr_dashboard.scorecard")
    if principal is not None and not request.args.get("expired"):
        return redirect(target)
    message = None
    if request.args.get("expired"):
        message = "Your session has expired or was closed. Sign in again."
    elif request.args.get("signed_out"):
        message = "You are signed out."
    oidc_url = None
    if current_app.config.get("QBR_OIDC_ENABLED"):
        try:
            oidc_url = url_for("qbr.session.oidc_login")
        except Exception:  # the OIDC routes are registered by the API when configured
            oidc_url = api_base() + "/session/oidc/login"
    html = render_template(
        "signin.html",
        title="Sign in",
        organization=_organization(),
        message=message,
        next_url=target,
        api_base=api_base(),
        asset=asset,
        oidc_url=oidc_url,
        oidc_label=current_app.config.get("QBR_OIDC_LABEL", "Sign in with single sign-on"),
    )
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@dashboard_blueprint.get("/")
def scorecard():
    return _page("scorecard", "Scorecard")


@dashboard_blueprint.get("/kpi/<key>")
def smartnumber(key: str):
    return _page("smartnumber", "SmartNumber", key=key)


@dashboard_blueprint.get("/inputs/<key>")
def input_detail(key: str):
    return _page("input", "Input", key=key)


@dashboard_blueprint.get("/clients")
def clients():
    return _page("clients", "Clients")


@dashboard_blueprint.get("/clients/<client_id>")
def client_detail(client_id: str):
    return _page("client", "Client", client_id=client_id)


@dashboard_blueprint.get("/trends")
def trends():
    return _page("trends", "Trends")


@dashboard_blueprint.get("/mbr")
def mbr():
    return _page("mbr", "Monthly Business Review")


@dashboard_blueprint.get("/settings")
def settings():
    return _page("settings", "Settings")


@dashboard_blueprint.get("/print")
def print_view():
    return _page("print", "Print")


@dashboard_blueprint.get("/present")
def present():
    return _page("present", "Present")


# ---------------------------------------------------------------- assets


@dashboard_blueprint.get("/assets/<path:path>")
def static_asset(path: str):
    f = (STATIC_DIR / path).resolve()
    if STATIC_DIR.resolve() not in f.parents or not f.is_file() or f.name.startswith("."):
        abort(404)
    mimetype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
    if mimetype == "text/javascript":
        mimetype = "application/javascript"
    data = f.read_bytes()
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if mimetype.startswith(COMPRESSIBLE) and "gzip" in request.headers.get("Accept-Encoding", ""):
        key = (str(f), f.stat().st_mtime_ns)
        with _gz_lock:
            body = _gz_cache.get(key)
            if body is None:
                body = gzip.compress(data, 9, mtime=0)
                _gz_cache[key] = body
        headers["Content-Encoding"] = "gzip"
        data = body
    return Response(data, mimetype=mimetype, headers=headers)


@dashboard_blueprint.after_request
def _compress_pages(resp: Response) -> Response:
    """gzip the HTML shells (assets are compressed above)."""
    if (
        resp.mimetype == "text/html"
        and not resp.direct_passthrough
        and "Content-Encoding" not in resp.headers
        and "gzip" in request.headers.get("Accept-Encoding", "")
        and resp.status_code == 200
    ):
        resp.set_data(gzip.compress(resp.get_data(), 6))
        resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Vary"] = "Accept-Encoding"
    return resp
