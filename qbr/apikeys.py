"""API keys: random, shown once, stored only as a sha256 hash.

A key looks like `qbr_<prefix>_<secret>`; the prefix is kept in clear so an
operator can tell keys apart in `qbr apikey list` without ever seeing one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from qbr import db
from qbr.errors import QbrError
from qbr.settings import Settings

SCOPES = ("read", "admin")
#: Names of the key rows of people who sign in with OpenID Connect (api/views/oidc.py):
#: `oidc:<email>`. Their secret is never issued; no key of that name can be created.
OIDC_PREFIX = "oidc:"
MAX_NAME_LENGTH = 100
_BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f]")

_COLUMNS = (
    "k.id, k.name, k.scope, k.key_prefix, k.created_at, "
    # a dashboard session is a use of its key too (sessions touch only their own row)
    "greatest(k.last_used_at, (select max(s.last_seen_at) from qbr_app.api_sessions as s "
    "where s.api_key_id = k.id)) as last_used_at, k.revoked_at"
)


class KeyNameTaken(QbrError):
    """An active key already has this name (the API answers 409)."""


class OidcKey(QbrError):
    """The row of a person who signs in with OpenID Connect, not a key (409 in the API)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return f"qbr_{prefix}_{secrets.token_urlsafe(32)}", prefix


def kind_of(name: str) -> str:
    """`oidc` for a person's single-sign-on row, else `key`."""
    return "oidc" if name.startswith(OIDC_PREFIX) else "key"


def check_name(name: str) -> str:
    """The name a new key may have, or QbrError saying why not (the CLI and the API)."""
    if not isinstance(name, str) or not name.strip():
        raise QbrError("A key needs a name.")
    if name != name.strip():
        raise QbrError("A key's name may not start or end with spaces.")
    if len(name) > MAX_NAME_LENGTH:
        raise QbrError(f"A key's name may be at most {MAX_NAME_LENGTH} characters.")
    if _BAD_NAME_CHARS.search(name):
        raise QbrError("A key's name may not contain control characters.")
    if name.lower().startswith(OIDC_PREFIX):
        raise QbrError(
            f"Names starting with {OIDC_PREFIX!r} are reserved for people who sign in with "
            "single sign-on."
        )
    return name


def _row(cur) -> dict | None:
    row = cur.fetchone()
    if row is None:
        return None
    out = dict(zip([c.name for c in cur.description], row, strict=True))
    out["kind"] = kind_of(out["name"])
    return out


def _audit(conn, actor: str, action: str, target: str, details: dict, org: int) -> None:
    conn.execute(
        "insert into qbr_app.audit_log (organization_id, actor, action, target, details) "
        "values (%s, %s, %s, %s, %s)",
        (org, actor, action, target, Jsonb(details)),
    )


def create_key(
    settings: Settings,
    name: str,
    scope: str,
    *,
    actor: str = "cli",
    details: dict | None = None,
    organization_id: int = 1,
) -> tuple[str, dict]:
    """A new key: (the key itself, shown once and never stored; its row as `list_keys`).

    An active key of the same name is refused (KeyNameTaken); a revoked one is
    replaced (its history stays in the audit log). Audited as `apikey.create`
    by `actor` in the same transaction. Runs as the database owner: the API's
    own role may not write `qbr_app.api_keys` (migration 0002).
    """
    if scope not in SCOPES:
        raise QbrError(f"Scope must be one of {', '.join(SCOPES)}.")
    check_name(name)
    key, prefix = new_key()
    with db.connect(settings) as conn:
        existing = conn.execute(
            "select revoked_at from qbr_app.api_keys where name = %s for update", (name,)
        ).fetchone()
        if existing and existing[0] is None:
            raise KeyNameTaken(
                f"An active API key named {name!r} exists: choose another name, or revoke it first."
            )
        if existing:
            conn.execute("delete from qbr_app.api_keys where name = %s", (name,))
        try:
            key_id = conn.execute(
                "insert into qbr_app.api_keys (name, key_prefix, key_hash, scope) "
                "values (%s, %s, %s, %s) returning id",
                (name, prefix, hash_key(key), scope),
            ).fetchone()[0]
        except psycopg.errors.UniqueViolation:  # created by someone else a moment ago
            raise KeyNameTaken(
                f"An active API key named {name!r} exists: choose another name, or revoke it first."
            ) from None
        info = {"scope": scope, "key_id": key_id, "key_prefix": prefix, **(details or {})}
        _audit(conn, actor, "apikey.create", name, info, organization_id)
        row = _row(
            conn.execute(f"select {_COLUMNS} from qbr_app.api_keys as k where k.id = %s", (key_id,))
        )
    return key, row


def create(settings: Settings, name: str, scope: str) -> str:
    """A new key (printed once by `qbr apikey create`); see create_key."""
    return create_key(settings, name, scope)[0]


def list_keys(target: Settings | psycopg.Connection) -> list[dict]:
    """Every key row, oldest first: id, name, scope, key_prefix, created_at,
    last_used_at (the key or one of its dashboard sessions), revoked_at, kind.
    Never the hash. `target`: settings (the CLI) or an open connection (the API's)."""
    sql = f"select {_COLUMNS} from qbr_app.api_keys as k order by k.created_at, k.id"
    if isinstance(target, Settings):
        with db.connect(target) as conn:
            return _rows(conn.execute(sql))
    return _rows(target.cursor(row_factory=tuple_row).execute(sql))


def _rows(cur) -> list[dict]:
    cols = [c.name for c in cur.description]
    out = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    for row in out:
        row["kind"] = kind_of(row["name"])
    return out


def revoke_key(
    settings: Settings,
    *,
    key_id: int | None = None,
    name: str | None = None,
    actor: str = "cli",
    details: dict | None = None,
    organization_id: int = 1,
    allow_oidc: bool = True,
) -> tuple[dict | None, bool]:
    """Revoke the key with this id (or name): (its row, or None if there is none;
    whether this call revoked it). Revoking a revoked key changes nothing (False).
    Its sessions end at once (api.sessions joins the key). Audited as
    `apikey.revoke` when it changed. `allow_oidc=False` refuses a person's
    single-sign-on row (OidcKey)."""
    where, arg = ("k.id = %s", key_id) if key_id is not None else ("k.name = %s", name)
    with db.connect(settings) as conn:
        found = conn.execute(
            f"select k.id, k.name from qbr_app.api_keys as k where {where} for update", (arg,)
        ).fetchone()
        if found is None:
            return None, False
        if not allow_oidc and kind_of(found[1]) == "oidc":
            raise OidcKey(
                f"{found[1]!r} is a person who signs in with single sign-on, not an API key: "
                "take them off QBR_OIDC_ALLOW, or lock them out now with "
                f"`qbr apikey revoke {found[1]}`."
            )
        changed = conn.execute(
            "update qbr_app.api_keys set revoked_at = now() where id = %s and revoked_at is null",
            (found[0],),
        ).rowcount
        if changed:
            _audit(
                conn,
                actor,
                "apikey.revoke",
                found[1],
                {"key_id": found[0], **(details or {})},
                organization_id,
            )
        row = _row(
            conn.execute(
                f"select {_COLUMNS} from qbr_app.api_keys as k where k.id = %s", (found[0],)
            )
        )
    return row, bool(changed)


def restore_oidc(settings: Settings, name: str, *, actor: str = "cli") -> bool:
    """Let a person locked out with `qbr apikey revoke oidc:<email>` sign in again
    (`qbr apikey restore`): their revoked single-sign-on row is deleted, and their next
    sign-in makes a new one if QBR_OIDC_ALLOW still allows them. False if `name` is
    not a revoked single-sign-on row. Audited as `apikey.restore`."""
    if kind_of(name) != "oidc":
        raise QbrError(f"Only single-sign-on rows ({OIDC_PREFIX}<email>) can be restored.")
    with db.connect(settings) as conn:
        gone = conn.execute(
            "delete from qbr_app.api_keys where name = %s and revoked_at is not null returning id",
            (name,),
        ).fetchone()
        if gone:
            _audit(conn, actor, "apikey.restore", name, {"key_id": gone[0]}, 1)
    return gone is not None


def revoke(settings: Settings, name: str) -> bool:
    """Revoke the active key named `name` (`qbr apikey revoke`); False if there is none."""
    return revoke_key(settings, name=name)[1]


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
