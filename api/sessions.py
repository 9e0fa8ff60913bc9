"""Dashboard sessions: an API key exchanged for an HTTP-only cookie.

Design: a server-side session with an opaque random id. The cookie holds 256
random bits; the database keeps only their sha256 (as for API keys), with the
key it was opened with and an absolute expiry. Chosen over a signed token
because (1) logging out, revoking the key or expiring ends the session at
once, checked on every request in the same lookup that joins the key;
(2) there is no signing secret to generate, share between gunicorn workers
and rotate; (3) the cookie carries nothing but the random id.

CSRF: the cookie is SameSite=Strict and HttpOnly; on top of that every
cookie-authenticated write must send `X-CSRF-Token`, a second random token
returned by POST /session (and mirrored in a readable `qbr_csrf` cookie so a
reloaded dashboard can recover it: the double-submit pattern). The server
checks it against the hash stored with the session, so a token planted in a
cookie by another site is useless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import psycopg
from psycopg.rows import tuple_row

COOKIE = "qbr_session"
CSRF_COOKIE = "qbr_csrf"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_TTL_SECONDS = 12 * 3600


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: psycopg.Connection, api_key_id: int, ttl_seconds: int) -> dict:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute("delete from qbr_app.api_sessions where expires_at < now()")
        row = conn.execute(
            "insert into qbr_app.api_sessions (token_hash, csrf_hash, api_key_id, expires_at) "
            "values (%s, %s, %s, now() + make_interval(secs => %s)) "
            "returning id, expires_at",
            (_hash(token), _hash(csrf), api_key_id, ttl_seconds),
        ).fetchone()
    return {"id": row["id"], "token": token, "csrf": csrf, "expires_at": row["expires_at"]}


_LOOKUP_SQL = """
with found as (
    select s.id, s.csrf_hash, s.expires_at, s.last_seen_at, k.id as key_id, k.name, k.scope
    from qbr_app.api_sessions as s
    inner join qbr_app.api_keys as k on k.id = s.api_key_id
    where s.token_hash = %s and s.expires_at > now() and k.revoked_at is null
),
touched as (
    update qbr_app.api_sessions as s
    set last_seen_at = now()
    from found
    where s.id = found.id and found.last_seen_at < now() - interval '1 minute'
)
select id, csrf_hash, expires_at, key_id, name, scope{extra} from found
"""


def lookup(conn: psycopg.Connection, token: str, extra_columns: str = "") -> dict | None:
    """The live session's principal; `extra_columns` ride along as in apikeys.verify."""
    if not token or len(token) > 128:
        return None
    query = _LOOKUP_SQL.format(extra=", " + extra_columns if extra_columns else "")
    row = conn.cursor(row_factory=tuple_row).execute(query, (_hash(token),)).fetchone()
    if row is None:
        return None
    return {
        "session_id": row[0],
        "csrf_hash": row[1],
        "expires_at": row[2],
        "id": row[3],
        "name": row[4],
        "scope": row[5],
        "extra": row[6:],
    }


def csrf_ok(session: dict, presented: str | None) -> bool:
    if not presented or len(presented) > 128:
        return False
    return hmac.compare_digest(session["csrf_hash"], _hash(presented))


def delete(conn: psycopg.Connection, session_id: int) -> None:
    conn.execute("delete from qbr_app.api_sessions where id = %s", (session_id,))
