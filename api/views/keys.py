"""API keys for an admin: list, create (the secret shown once), revoke.

One implementation with the CLI (`qbr apikey create|list|revoke`): the rules,
the writes and their audit rows are `qbr.apikeys`. The API's database role
may only read `qbr_app.api_keys` (and touch `last_used_at`; migration 0002,
pinned by tests/api/test_roles.py), so creating and revoking run through
`qbr.apikeys` on the owner's connection, as the OIDC sign-in creates its rows
(api/views/oidc.py); listing reads through the API's own pool.

Decisions:
- The secret is in the 201 answer of POST /keys only (`Cache-Control:
  no-store`); the database keeps its sha256, so it can never be shown again.
- Revoking is idempotent: an already revoked key answers 200 with
  `revoked_now: false` and its first `revoked_at`.
- The key this request is signed in with (directly or through its dashboard
  session) cannot be revoked here (409 OWN_KEY): an admin cannot lock
  themselves out by a mis-click; sign in with another admin key first, or use
  the CLI.
- People who sign in with OpenID Connect have a key row `oidc:<email>` (no
  secret is ever issued). They are listed with `kind: "oidc"` so an admin
  sees who has access, but not revocable here (409 OIDC_KEY): that is
  `QBR_OIDC_ALLOW`, or `qbr apikey revoke oidc:<email>` to lock a person out
  at once (`qbr apikey restore oidc:<email>` lets them in again); and no key
  may be created under that prefix.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Literal

from flask import Blueprint, current_app, g
from pydantic import Field

from api import shapes as S
from api.auth import org_id
from api.db import get_conn, iso
from api.errors import ApiError
from api.shapes import Shape, Timestamp
from api.spec import json_response, operation
from qbr import apikeys
from qbr.errors import QbrError

bp = Blueprint("keys", __name__)
log = logging.getLogger("qbr.api")

Scope = Literal["read", "admin"]
#: No leading/trailing space, no control characters (qbr.apikeys.check_name, which also
#: refuses the `oidc:` prefix).
NAME_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
MAX_ID = 2**63 - 1


class ApiKey(Shape):
    """An API key as an admin sees it: never its hash, never its secret."""

    id: int
    name: str
    kind: Literal["key", "oidc"] = Field(
        description="key: an API key; oidc: the row of a person who signs in with single "
        "sign-on (name oidc:<email>, no secret exists; not revocable through the API)."
    )
    scope: Scope
    key_prefix: str = Field(
        description="The 8 characters after `qbr_` in the key (qbr_<prefix>_...): tells "
        "keys apart without revealing them."
    )
    created_at: Timestamp
    last_used_at: Timestamp = Field(
        description="Last request with the key or one of its dashboard sessions "
        "(updated at most once a minute); null if never used."
    )
    revoked_at: Timestamp
    revoked: bool
    current: bool = Field(
        description="This request is signed in with this key (or a session opened with it)."
    )


class KeyList(Shape):
    """Every key, oldest first, revoked ones included."""

    keys: list[ApiKey]


class KeyCreate(Shape):
    """A new key: its name (unique among active keys) and scope."""

    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=apikeys.MAX_NAME_LENGTH,
            pattern=NAME_PATTERN,
            description="Unique among active keys; no leading or trailing spaces; "
            "not starting with `oidc:` (reserved for single sign-on).",
        ),
    ]
    scope: Scope = Field(description="read: every GET; admin: writes too.")


class KeyCreated(Shape):
    """The new key and its secret: shown in this answer only, never again."""

    key: ApiKey
    secret: str = Field(
        description="The key itself, to send as X-API-Key (or Bearer). Only its sha256 is "
        "stored: it cannot be shown again."
    )


class KeyRevoked(Shape):
    """The key after the revocation; revoked_now false: it was revoked already."""

    key: ApiKey
    revoked_now: bool


P_KEY_ID = S.path(
    "key_id",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "The key's id (from GET /keys).",
)


def key_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "scope": row["scope"],
        "key_prefix": row["key_prefix"],
        "created_at": iso(row["created_at"]),
        "last_used_at": iso(row["last_used_at"]),
        "revoked_at": iso(row["revoked_at"]),
        "revoked": row["revoked_at"] is not None,
        "current": row["id"] == g.principal.get("id"),
    }


def _settings():
    return current_app.extensions["qbr_settings"]


def _unavailable(exc: QbrError) -> ApiError:
    # The reason names the owner's connection (role, host, database): the operator's log
    # gets it, the client the same answer as any other database outage (api/errors.py).
    log.warning("API key write: %s", exc)
    return ApiError(503, "DATABASE_UNAVAILABLE", "The database is unavailable.")


@bp.get("/keys")
@operation(
    summary="API keys: name, prefix, scope, created, last used, revoked (never a secret)",
    tag="keys",
    response=KeyList,
    scope="admin",
)
def list_keys():
    rows = apikeys.list_keys(get_conn())
    # names and last-use dates of credentials: no browser or proxy keeps a copy
    return json_response(
        {"keys": [key_json(r) for r in rows]}, headers={"Cache-Control": "no-store"}
    )


@bp.post("/keys")
@operation(
    summary="Create an API key: the secret is in this answer only",
    tag="keys",
    response=KeyCreated,
    body=KeyCreate,
    status=201,
    scope="admin",
    errors=(409,),
    description="409 KEY_NAME_TAKEN when an active key has the name (a revoked key's "
    "name may be reused: the revoked row is replaced, the audit log keeps it). Audited "
    "as apikey.create.",
)
def create_key(body):
    name, scope = body["name"], body["scope"]
    try:
        apikeys.check_name(name)
    except QbrError as exc:
        raise ApiError(
            400, "VALIDATION_ERROR", f"Invalid body: $.name: {exc}", param="name"
        ) from None
    p = g.principal
    try:
        secret, row = apikeys.create_key(
            _settings(),
            name,
            scope,
            actor=p["name"],
            details={"via": p["via"]},
            organization_id=org_id(),
        )
    except apikeys.KeyNameTaken as exc:
        raise ApiError(409, "KEY_NAME_TAKEN", str(exc), param="name") from None
    except QbrError as exc:  # the owner's connection failed
        raise _unavailable(exc) from None
    resp = json_response({"key": key_json(row), "secret": secret}, 201)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.delete("/keys/<key_id>")
@operation(
    summary="Revoke an API key (idempotent); its sessions end at once",
    tag="keys",
    response=KeyRevoked,
    params=[P_KEY_ID],
    scope="admin",
    errors=(404, 409),
    description="200 with revoked_now true, or false when it was revoked already (same "
    "revoked_at). 409 OWN_KEY: the key this request is signed in with (sign in with "
    "another admin key first); 409 OIDC_KEY: a single-sign-on person (QBR_OIDC_ALLOW, or "
    "`qbr apikey revoke oidc:<email>`). 404 KEY_NOT_FOUND. Audited as apikey.revoke.",
)
def revoke_key(key_id: str):
    if not re.fullmatch(r"[0-9]{1,19}", key_id) or not 0 < int(key_id) <= MAX_ID:
        raise ApiError(404, "KEY_NOT_FOUND", f"No API key with id {key_id!r}.")
    key_id = int(key_id)
    p = g.principal
    if key_id == p.get("id"):
        raise ApiError(
            409,
            "OWN_KEY",
            f"{p['name']!r} is the key you are signed in with: sign in with another admin "
            "key to revoke it (or use `qbr apikey revoke`).",
        )
    try:
        row, changed = apikeys.revoke_key(
            _settings(),
            key_id=key_id,
            actor=p["name"],
            details={"via": p["via"]},
            organization_id=org_id(),
            allow_oidc=False,
        )
    except apikeys.OidcKey as exc:
        raise ApiError(409, "OIDC_KEY", str(exc)) from None
    except QbrError as exc:
        raise _unavailable(exc) from None
    if row is None:
        raise ApiError(404, "KEY_NOT_FOUND", f"No API key with id {key_id}.")
    return json_response({"key": key_json(row), "revoked_now": changed})
