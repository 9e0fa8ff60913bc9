"""Optional OpenID Connect sign-in for the dashboard (Microsoft Entra ID or any issuer).

    GET /session/oidc/login     -> 302 to the issuer (authorization code + PKCE,
                                   state and nonce)
    GET /session/oidc/callback  -> checks state, exchanges the code, verifies the
                                   ID token (signature against the issuer's JWKS,
                                   iss, aud, exp, nonce), looks the email up in
                                   QBR_OIDC_ALLOW, opens the same server-side
                                   session as the key sign-in, 302 to `/`

Enabled when QBR_OIDC_ISSUER, QBR_OIDC_CLIENT_ID and QBR_OIDC_ALLOW are set
(`app.config["QBR_OIDC_ENABLED"]`, button text `QBR_OIDC_LABEL`). A signed-in
person is an API-key row named `oidc:<email>` whose secret is never issued:
its scope follows the allow-list at each sign-in, `qbr apikey revoke
oidc:<email>` locks the person out (and ends their sessions), and the audit
log names them. API keys keep working as before.

The OAuth 2 client is Authlib's; the ID token is verified with joserfc (the
JOSE library Authlib itself moved to). The state is bound to the browser by an
HttpOnly SameSite=Lax cookie (the callback is a cross-site navigation from the
issuer) and to the server by a one-time row in `qbr_app.oidc_logins`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

import requests
from flask import Blueprint, current_app, g, redirect, request, url_for

from api import shapes as S
from api.db import get_conn
from api.errors import ApiError, log
from api.spec import operation
from api.views.session import open_session, set_session_cookies
from qbr.oidc_allow import parse_allow, scope_for

bp = Blueprint("oidc", __name__)

STATE_COOKIE = "qbr_oidc_state"
LOGIN_TTL_S = 600
METADATA_TTL_S = 3600
HTTP_TIMEOUT_S = 10
LEEWAY_S = 60
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
KEY_PREFIX = "oidc:"

_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def enabled(settings) -> bool:
    return bool(
        settings is not None
        and settings.oidc_issuer
        and settings.oidc_client_id
        and parse_allow(settings.oidc_allow)
    )


def configure(app, settings) -> None:
    """Called by init_qbr: what the dashboard's sign-in page reads."""
    app.config["QBR_OIDC_ENABLED"] = enabled(settings)
    app.config["QBR_OIDC_LABEL"] = getattr(settings, "oidc_label", None) or "Sign in"


def _settings():
    settings = current_app.extensions.get("qbr_settings")
    if not enabled(settings):
        raise ApiError(404, "OIDC_NOT_CONFIGURED", "OpenID Connect sign-in is not configured.")
    return settings


def _get_json(url: str) -> dict:
    try:
        r = requests.get(url, timeout=HTTP_TIMEOUT_S)
        r.raise_for_status()
        return r.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("oidc: %s unreachable (%s)", url, type(exc).__name__)
        raise ApiError(
            502, "OIDC_ISSUER_UNREACHABLE", "The sign-in provider did not answer."
        ) from None


def _cached(key: str, fetch, refresh: bool = False) -> Any:
    with _cache_lock:
        hit = _cache.get(key)
    if hit and not refresh and time.monotonic() - hit[0] < METADATA_TTL_S:
        return hit[1]
    value = fetch()
    with _cache_lock:
        _cache[key] = (time.monotonic(), value)
    return value


def metadata(issuer: str) -> dict:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    meta = _cached("meta:" + url, lambda: _get_json(url))
    if meta.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise ApiError(502, "OIDC_ISSUER_MISMATCH", "The provider's metadata names another issuer.")
    return meta


def _keyset(jwks_uri: str, refresh: bool = False):
    from joserfc.jwk import KeySet

    return _cached("jwks:" + jwks_uri, lambda: KeySet.import_key_set(_get_json(jwks_uri)), refresh)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _redirect_uri(settings) -> str:
    return settings.oidc_redirect_url or url_for("qbr.oidc.oidc_callback", _external=True)


def _client(settings, meta: dict):
    from authlib.integrations.requests_client import OAuth2Session

    methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return OAuth2Session(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scope="openid email profile",
        redirect_uri=_redirect_uri(settings),
        token_endpoint_auth_method=method,
        code_challenge_method="S256",
    )


def _cookie_path() -> str:
    return url_for("qbr.oidc.oidc_login").rsplit("/", 1)[0]


@bp.get("/session/oidc/login")
@operation(
    summary="Dashboard sign-in with the MSP's identity provider: redirects to the issuer",
    tag="session",
    response=None,
    scope="public",
    status=302,
    errors=(404, 502),
)
def oidc_login():
    settings = _settings()
    meta = metadata(settings.oidc_issuer)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    conn = get_conn()
    with conn.transaction():
        conn.execute(
            "delete from qbr_app.oidc_logins where created_at < now() - make_interval(secs => %s)",
            (LOGIN_TTL_S,),
        )
        conn.execute(
            "insert into qbr_app.oidc_logins (state_hash, nonce, code_verifier) "
            "values (%s, %s, %s)",
            (_hash(state), nonce, verifier),
        )
    url, _ = _client(settings, meta).create_authorization_url(
        meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
    )
    resp = redirect(url, code=302)
    resp.set_cookie(
        STATE_COOKIE,
        state,
        max_age=LOGIN_TTL_S,
        path=_cookie_path(),
        httponly=True,
        secure=bool(request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE")),
        samesite="Lax",
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


P_CODE = S.query("code", {"type": "string", "maxLength": 4096}, "Authorization code.")
P_STATE = S.query("state", {"type": "string", "maxLength": 512}, "The state sent to the issuer.")
P_ERROR = S.query("error", {"type": "string", "maxLength": 200}, "An error from the issuer.")
P_ERROR_DESCRIPTION = S.query(
    "error_description", {"type": "string", "maxLength": 2000}, "The issuer's explanation."
)


def _verify_id_token(settings, meta: dict, id_token: str, nonce: str) -> dict:
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwt import JWTClaimsRegistry

    def decode(refresh: bool):
        return jwt.decode(id_token, _keyset(meta["jwks_uri"], refresh), algorithms=ALGORITHMS)

    try:
        try:
            token = decode(refresh=False)
        except (JoseError, ValueError):
            token = decode(refresh=True)  # the issuer may have rotated its keys
        claims = token.claims
        JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": settings.oidc_client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
    except (JoseError, ValueError) as exc:
        log.warning("oidc: ID token refused (%s: %s)", type(exc).__name__, exc)
        raise ApiError(
            401, "OIDC_INVALID_TOKEN", f"The sign-in provider's ID token is not valid ({exc})."
        ) from None
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != settings.oidc_client_id:
        raise ApiError(401, "OIDC_INVALID_TOKEN", "The ID token was issued to another client.")
    return claims


def _principal(settings, email: str, scope: str) -> dict:
    """The `oidc:<email>` key row (created or its scope updated); refused if revoked."""
    from qbr import apikeys, db

    name = KEY_PREFIX + email
    with db.connect(settings) as conn:
        row = conn.execute(
            "select id, scope, revoked_at from qbr_app.api_keys where name = %s for update",
            (name,),
        ).fetchone()
        if row and row[2] is not None:
            raise ApiError(403, "OIDC_REVOKED", f"Sign-in for {email} has been revoked.")
        if row is None:
            secret, prefix = apikeys.new_key()  # never shown: only sessions use this row
            row = conn.execute(
                "insert into qbr_app.api_keys (name, key_prefix, key_hash, scope) "
                "values (%s, %s, %s, %s) returning id, scope, revoked_at",
                (name, prefix, apikeys.hash_key(secret), scope),
            ).fetchone()
        elif row[1] != scope:
            conn.execute("update qbr_app.api_keys set scope = %s where id = %s", (scope, row[0]))
    return {"id": row[0], "name": name, "scope": scope}


@bp.get("/session/oidc/callback")
@operation(
    summary="Where the issuer returns: verifies the sign-in, sets the session cookie, "
    "redirects to the dashboard",
    tag="session",
    response=None,
    scope="public",
    status=302,
    params=[P_CODE, P_STATE, P_ERROR, P_ERROR_DESCRIPTION],
    errors=(401, 403, 404, 502),
)
def oidc_callback(query):
    settings = _settings()
    if query["error"]:
        raise ApiError(
            400,
            "OIDC_DENIED",
            f"The sign-in provider refused: {query['error']}"
            + (f" ({query['error_description']})" if query["error_description"] else ""),
        )
    state, code = query["state"] or "", query["code"] or ""
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state or not code or not cookie or not hmac.compare_digest(cookie, state):
        raise ApiError(400, "OIDC_STATE_MISMATCH", "The sign-in did not start in this browser.")
    conn = get_conn()
    with conn.transaction():
        pending = conn.execute(
            "delete from qbr_app.oidc_logins where state_hash = %s "
            "and created_at > now() - make_interval(secs => %s) returning nonce, code_verifier",
            (_hash(state), LOGIN_TTL_S),
        ).fetchone()
    if pending is None:
        raise ApiError(400, "OIDC_STATE_MISMATCH", "This sign-in expired or was already used.")
    meta = metadata(settings.oidc_issuer)
    try:
        token = _client(settings, meta).fetch_token(
            meta["token_endpoint"],
            code=code,
            code_verifier=pending["code_verifier"],
            timeout=HTTP_TIMEOUT_S,
        )
    except Exception as exc:  # OAuthError, HTTP errors: one line, no secrets
        log.warning("oidc: token exchange failed (%s)", type(exc).__name__)
        raise ApiError(401, "OIDC_CODE_REFUSED", "The sign-in provider refused the code.") from None
    if not token.get("id_token"):
        raise ApiError(401, "OIDC_INVALID_TOKEN", "The sign-in provider sent no ID token.")
    claims = _verify_id_token(settings, meta, token["id_token"], pending["nonce"])
    email = str(claims.get("email") or claims.get("preferred_username") or "").strip().lower()
    if "@" not in email or claims.get("email_verified") is False:
        raise ApiError(403, "OIDC_NO_EMAIL", "The sign-in provider gave no verified email.")
    scope = scope_for(parse_allow(settings.oidc_allow), email)
    if scope is None:
        log.warning("oidc: %s is not on QBR_OIDC_ALLOW", email)
        raise ApiError(403, "OIDC_NOT_ALLOWED", f"{email} may not sign in to this dashboard.")
    principal = _principal(settings, email, scope)
    g.principal = {**principal, "via": "oidc"}
    created, ttl = open_session(principal["id"], principal["name"], scope, "oidc")
    resp = redirect("/", code=302)
    set_session_cookies(resp, created, ttl)
    resp.delete_cookie(STATE_COOKIE, path=_cookie_path())
    return resp
