"""API keys: random, shown once, stored only as a sha256 hash.

A key looks like `qbr_<prefix>_<secret>`; the prefix is kept in clear so an
operator can tell keys apart in `qbr apikey list` without ever seeing one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from psycopg.rows import tuple_row

from qbr import db
from qbr.errors import QbrError
from qbr.settings import Settings

SCOPES = ("read", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return f"qbr_{prefix}_{secrets.token_urlsafe(32)}", prefix


def create(settings: Settings, name: str, scope: str) -> str:
    if scope not in SCOPES:
        raise QbrError(f"Scope must be one of {', '.join(SCOPES)}.")
    key, prefix = new_key()
    with db.connect(settings) as conn:
        existing = conn.execute(
            "select revoked_at from qbr_app.api_keys where name = %s", (name,)
        ).fetchone()
        if existing and existing[0] is None:
            raise QbrError(f"An active API key named {name!r} exists; revoke it first.")
        if existing:
            conn.execute("delete from qbr_app.api_keys where name = %s", (name,))
        conn.execute(
            "insert into qbr_app.api_keys (name, key_prefix, key_hash, scope) "
            "values (%s, %s, %s, %s)",
            (name, prefix, hash_key(key), scope),
        )
        conn.execute(
            "insert into qbr_app.audit_log (actor, action, target, details) "
            "values ('cli', 'apikey.create', %s, jsonb_build_object('scope', %s::text))",
            (name, scope),
        )
    return key


def list_keys(settings: Settings) -> list[dict]:
    with db.connect(settings) as conn:
        cur = conn.execute(
            "select name, scope, key_prefix, created_at, last_used_at, revoked_at "
            "from qbr_app.api_keys order by created_at"
        )
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def revoke(settings: Settings, name: str) -> bool:
    with db.connect(settings) as conn:
        cur = conn.execute(
            "update qbr_app.api_keys set revoked_at = now() where name = %s and revoked_at is null",
            (name,),
        )
        if cur.rowcount:
            conn.execute(
                "insert into qbr_app.audit_log (actor, action, target) "
                "values ('cli', 'apikey.revoke', %s)",
                (name,),
            )
        return cur.rowcount > 0


#: Longest string accepted as a key before hashing (real keys are ~50 characters).
MAX_KEY_LENGTH = 256

_VERIFY_SQL = """
with found as (
    select id, name, scope, key_hash, last_used_at
    from qbr_app.api_keys
    where key_hash = %(digest)s and revoked_at is null
),
touched as (
    update qbr_app.api_keys as k
    set last_used_at = now()
    from found
    where %(touch)s and k.id = found.id
        and (found.last_used_at is null or found.last_used_at < now() - interval '1 minute')
)
select id, name, scope, key_hash{extra} from found
"""


def verify(conn, presented: str, *, touch: bool = False, extra_columns: str = "") -> dict | None:
    """The key's row if `presented` is a live key, else None.

    The lookup is by the sha256 of the key (an index probe whose timing can at
    most hint at a prefix of a hash of a 256-bit random secret); the final
    comparison is constant-time. With `touch`, `last_used_at` is refreshed in
    the same statement, at most once a minute, so a busy key costs no write
    per request. `extra_columns` (trusted SQL, not user input) are selected in
    the same round trip and returned as `extra` (the API's data version).
    """
    if not presented or not presented.startswith("qbr_") or len(presented) > MAX_KEY_LENGTH:
        return None
    digest = hash_key(presented)
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            _VERIFY_SQL.format(extra=", " + extra_columns if extra_columns else ""),
            {"digest": digest, "touch": touch},
        )
        .fetchone()
    )
    if row is None or not hmac.compare_digest(row[3], digest):
        return None
    return {"id": row[0], "name": row[1], "scope": row[2], "extra": row[4:]}
