"""API keys through the API (GET/POST /keys, DELETE /keys/<id>): admin only, the
secret shown once, revocation idempotent, the own key and single-sign-on rows protected,
every change audited, one implementation with the CLI (qbr.apikeys).

Expected values come from the database (read as the owner) or from the key
itself (sha256), never from the answer under test.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from psycopg.rows import dict_row

from api import sessions
from qbr import apikeys, db
from tests.api.test_auth import _session

API = "/api/qbr"
FIELDS = {
    "id",
    "name",
    "kind",
    "scope",
    "key_prefix",
    "created_at",
    "last_used_at",
    "revoked_at",
    "revoked",
    "current",
}


def _db_keys(settings) -> dict[str, tuple]:
    with db.connect(settings) as conn:
        rows = conn.execute(
            "select name, id, scope, key_prefix, key_hash, revoked_at from qbr_app.api_keys"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def _audit(settings, actions=("apikey.create", "apikey.revoke")) -> list[tuple]:
    with db.connect(settings) as conn:
        return conn.execute(
            "select actor, action, target, details from qbr_app.audit_log "
            "where action = any(%s) order by id",
            (list(actions),),
        ).fetchall()


@pytest.fixture
def world_keys(make_api):
    """(admin client, read client, settings) over a fresh database; the audit rows of the
    fixture's own keys (CLI-made) are the baseline."""
    admin, reader, settings = make_api()
    return admin, reader, settings, len(_audit(settings))


def test_list_shows_every_key_without_hash_or_secret(world_keys):
    admin, reader, settings, _ = world_keys
    r = admin.get(f"{API}/keys")
    assert r.status_code == 200
    body = r.get_json()
    stored = _db_keys(settings)
    assert [k["name"] for k in body["keys"]] == ["writer", "looker"]  # oldest first
    for k in body["keys"]:
        key_id, scope, prefix, key_hash, revoked_at = stored[k["name"]]
        assert set(k) == FIELDS
        assert (k["id"], k["scope"], k["key_prefix"], k["kind"]) == (key_id, scope, prefix, "key")
        assert k["revoked"] is False and k["revoked_at"] is None and k["created_at"]
        assert key_hash not in r.get_data(as_text=True)
    # the admin client's own key is marked, and its use recorded
    writer = admin.headers["X-API-Key"]
    by_name = {k["name"]: k for k in body["keys"]}
    assert by_name["writer"]["current"] is True and by_name["looker"]["current"] is False
    assert by_name["writer"]["key_prefix"] == writer.split("_")[1]
    assert by_name["writer"]["last_used_at"] is not None
    assert writer not in r.get_data(as_text=True)


def test_created_key_is_shown_once_and_works_until_revoked(world_keys):
    admin, _, settings, baseline = world_keys
    r = admin.post(f"{API}/keys", json={"name": "Ops laptop", "scope": "read"})
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "no-store"
    created = r.get_json()
    secret, key = created["secret"], created["key"]
    stored = _db_keys(settings)["Ops laptop"]
    assert key["id"] == stored[0] and key["scope"] == "read" == stored[1]
    assert secret.startswith(f"qbr_{stored[2]}_") and key["key_prefix"] == stored[2]
    assert hashlib.sha256(secret.encode()).hexdigest() == stored[3]  # stored hashed only
    assert key["last_used_at"] is None and key["revoked"] is False and key["current"] is False

    # the secret authenticates, with the scope asked for
    user = admin.with_headers(**{"X-API-Key": secret})
    assert user.get(f"{API}/periods").status_code == 200
    denied = user.post(f"{API}/thresholds", json={"metric": "rhem", "warning": 1, "critical": 2})
    assert denied.status_code == 403 and denied.get_json()["error_code"] == "FORBIDDEN"

    # ... and is never shown again: not in the list, nowhere in the key's row
    listed = admin.get(f"{API}/keys")
    assert secret not in listed.get_data(as_text=True)
    row = next(k for k in listed.get_json()["keys"] if k["name"] == "Ops laptop")
    assert row["last_used_at"] is not None  # the request above used it
    assert set(row) == FIELDS

    # revoke: the very next request with it is 401
    r = admin.delete(f"{API}/keys/{key['id']}")
    assert r.status_code == 200
    revoked = r.get_json()
    assert revoked["revoked_now"] is True and revoked["key"]["revoked"] is True
    assert revoked["key"]["revoked_at"] is not None
    assert _db_keys(settings)["Ops laptop"][4] is not None
    r = user.get(f"{API}/periods")
    assert r.status_code == 401 and r.get_json()["error_code"] == "UNAUTHORIZED"

    # revoking again is idempotent: 200, nothing changes, no second audit row
    again = admin.delete(f"{API}/keys/{key['id']}")
    assert again.status_code == 200
    assert again.get_json()["revoked_now"] is False
    assert again.get_json()["key"]["revoked_at"] == revoked["key"]["revoked_at"]
    listed = {k["name"]: k for k in admin.get(f"{API}/keys").get_json()["keys"]}
    assert listed["Ops laptop"]["revoked"] is True

    audit = _audit(settings)[baseline:]
    assert [(a[0], a[1], a[2]) for a in audit] == [
        ("writer", "apikey.create", "Ops laptop"),
        ("writer", "apikey.revoke", "Ops laptop"),
    ]
    assert audit[0][3] == {
        "scope": "read",
        "key_id": key["id"],
        "key_prefix": stored[2],
        "via": "key",
    }
    assert audit[1][3] == {"key_id": key["id"], "via": "key"}
    assert secret not in json.dumps([a[3] for a in audit])


def test_an_admin_key_made_here_can_write(world_keys):
    admin, _, settings, _ = world_keys
    secret = admin.post(f"{API}/keys", json={"name": "second admin", "scope": "admin"})
    assert secret.status_code == 201
    other = admin.with_headers(**{"X-API-Key": secret.get_json()["secret"]})
    r = other.post(f"{API}/thresholds", json={"metric": "rhem", "warning": 0.2, "critical": 0.3})
    assert r.status_code == 201
    # ... and it may revoke the first admin key, which then stops working
    writer_id = _db_keys(settings)["writer"][0]
    assert other.delete(f"{API}/keys/{writer_id}").get_json()["revoked_now"] is True
    assert admin.get(f"{API}/periods").status_code == 401
    assert _db_keys(settings)["writer"][4] is not None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "x"}, "scope"),
        ({"scope": "read"}, "name"),
        ({"name": "x", "scope": "owner"}, "owner"),
        ({"name": "", "scope": "read"}, "name"),
        ({"name": " padded", "scope": "read"}, "name"),
        ({"name": "padded ", "scope": "read"}, "name"),
        ({"name": "two\nlines", "scope": "read"}, "name"),
        ({"name": "x" * 101, "scope": "read"}, "name"),
        ({"name": 7, "scope": "read"}, "name"),
        ({"name": "x", "scope": "read", "secret": "qbr_mine_chosen"}, "secret"),
        ({"name": "oidc:boss@msp.example", "scope": "admin"}, "reserved"),
        ({"name": "OIDC:boss@msp.example", "scope": "admin"}, "reserved"),
    ],
)
def test_invalid_bodies_are_400_and_create_nothing(admin, marts_settings, body, fragment):
    before = _db_keys(marts_settings)
    r = admin.post(f"{API}/keys", json=body)
    assert r.status_code == 400, r.get_json()
    err = r.get_json()
    assert err["error_code"] == "VALIDATION_ERROR"
    assert fragment in err["error"]
    assert _db_keys(marts_settings) == before


def test_malformed_and_non_json_bodies(admin):
    r = admin.post(f"{API}/keys", data="{name", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error_code"] == "MALFORMED_JSON"
    r = admin.post(f"{API}/keys", data="name=x&scope=read")
    assert r.status_code == 415 and r.get_json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_duplicate_name_is_409_and_a_revoked_name_can_be_reused(world_keys):
    admin, _, settings, baseline = world_keys
    r = admin.post(f"{API}/keys", json={"name": "looker", "scope": "admin"})
    assert r.status_code == 409
    assert r.get_json()["error_code"] == "KEY_NAME_TAKEN" and r.get_json()["param"] == "name"
    assert _db_keys(settings)["looker"][1] == "read"  # untouched
    old_id = _db_keys(settings)["looker"][0]
    assert admin.delete(f"{API}/keys/{old_id}").status_code == 200
    r = admin.post(f"{API}/keys", json={"name": "looker", "scope": "admin"})
    assert r.status_code == 201
    new = r.get_json()["key"]
    assert new["id"] != old_id and new["scope"] == "admin" and new["revoked"] is False
    names = [k["name"] for k in admin.get(f"{API}/keys").get_json()["keys"]]
    assert names.count("looker") == 1  # the revoked row was replaced; the audit log keeps it
    assert [a[1] for a in _audit(settings)[baseline:]] == ["apikey.revoke", "apikey.create"]


def test_read_keys_and_anonymous_callers_are_refused(world_keys):
    admin, reader, settings, baseline = world_keys
    looker_id = _db_keys(settings)["looker"][0]
    anonymous = reader.with_headers(**{"X-API-Key": None})
    for method, path, body in [
        ("GET", "/keys", None),
        ("POST", "/keys", {"name": "sneaky", "scope": "admin"}),
        ("DELETE", f"/keys/{looker_id}", None),
    ]:
        r = reader.open(method, API + path, json=body)
        assert r.status_code == 403 and r.get_json()["error_code"] == "FORBIDDEN", path
        r = anonymous.open(method, API + path, json=body)
        assert r.status_code == 401 and r.get_json()["error_code"] == "UNAUTHORIZED", path
    stored = _db_keys(settings)
    assert "sneaky" not in stored and stored["looker"][4] is None
    assert _audit(settings)[baseline:] == []
    refused = _audit(settings, ("request.refused",))
    assert [(a[0], a[2]) for a in refused] == [
        ("looker", f"GET {API}/keys"),
        ("looker", f"POST {API}/keys"),
        ("looker", f"DELETE {API}/keys/{looker_id}"),
    ]


def test_a_session_creates_with_csrf_and_cannot_revoke_its_own_key(world_keys):
    admin, _, settings, baseline = world_keys
    writer_id = _db_keys(settings)["writer"][0]
    browser, csrf = _session(admin)
    body = {"name": "from the dashboard", "scope": "read"}
    r = browser.post(f"{API}/keys", json=body)
    assert r.status_code == 403 and r.get_json()["error_code"] == "CSRF_FAILED"
    r = browser.post(f"{API}/keys", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    listed = browser.get(f"{API}/keys").get_json()["keys"]
    assert [k["name"] for k in listed if k["current"]] == ["writer"]  # the session's key
    # the key the session was opened with: refused, still live
    r = browser.delete(f"{API}/keys/{writer_id}", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 409 and r.get_json()["error_code"] == "OWN_KEY"
    # and directly with the key, too
    r = admin.delete(f"{API}/keys/{writer_id}")
    assert r.status_code == 409 and r.get_json()["error_code"] == "OWN_KEY"
    assert _db_keys(settings)["writer"][4] is None
    assert browser.get(f"{API}/periods").status_code == 200
    audit = _audit(settings)[baseline:]
    assert [(a[0], a[1], a[2], a[3]["via"]) for a in audit] == [
        ("writer", "apikey.create", "from the dashboard", "session")
    ]


def test_single_sign_on_rows_are_listed_but_not_revocable_here(world_keys):
    admin, _, settings, _ = world_keys
    secret, prefix = apikeys.new_key()  # as api/views/oidc.py makes a person's row
    with db.connect(settings) as conn:
        person = conn.execute(
            "insert into qbr_app.api_keys (name, key_prefix, key_hash, scope) "
            "values ('oidc:carol@msp.example', %s, %s, 'read') returning id",
            (prefix, apikeys.hash_key(secret)),
        ).fetchone()[0]
    listed = {k["name"]: k for k in admin.get(f"{API}/keys").get_json()["keys"]}
    assert listed["oidc:carol@msp.example"]["kind"] == "oidc"
    assert listed["oidc:carol@msp.example"]["id"] == person
    assert listed["oidc:carol@msp.example"]["last_used_at"] is None
    # such a person only ever uses sessions: a session's last request counts as a use
    with db.connect(settings, row_factory=dict_row) as conn:  # as the API's pool reads rows
        sessions.create(conn, person, 3600)
        seen = conn.execute(
            "select last_seen_at from qbr_app.api_sessions where api_key_id = %s", (person,)
        ).fetchone()["last_seen_at"]
    listed = {k["name"]: k for k in admin.get(f"{API}/keys").get_json()["keys"]}
    assert listed["oidc:carol@msp.example"]["last_used_at"] == seen.isoformat()
    r = admin.delete(f"{API}/keys/{person}")
    assert r.status_code == 409 and r.get_json()["error_code"] == "OIDC_KEY"
    assert "QBR_OIDC_ALLOW" in r.get_json()["error"]
    assert _db_keys(settings)["oidc:carol@msp.example"][4] is None
    # the CLI locks her out at once, and `qbr apikey restore` lets her sign in again: the
    # revoked row goes (the next sign-in makes a new one), audited; a key is not restored
    assert apikeys.revoke(settings, "oidc:carol@msp.example") is True
    assert _db_keys(settings)["oidc:carol@msp.example"][4] is not None
    with pytest.raises(apikeys.QbrError, match="single-sign-on"):
        apikeys.restore_oidc(settings, "writer")
    assert apikeys.restore_oidc(settings, "oidc:carol@msp.example") is True
    assert "oidc:carol@msp.example" not in _db_keys(settings)
    assert apikeys.restore_oidc(settings, "oidc:carol@msp.example") is False
    restored = _audit(settings, ("apikey.restore",))
    assert [(a[0], a[2], a[3]["key_id"]) for a in restored] == [
        ("cli", "oidc:carol@msp.example", person)
    ]


def test_an_owner_connection_failure_names_no_connection(world_keys, caplog):
    admin, _, settings, _ = world_keys
    url = settings.url.replace("@", "x@", 1) if "@" in settings.url else settings.url
    broken = settings.model_copy(update={"database_url": url + "_missing"})
    admin.app.extensions["qbr_settings"] = broken
    try:
        r = admin.post(f"{API}/keys", json={"name": "never", "scope": "read"})
    finally:
        admin.app.extensions["qbr_settings"] = settings
    assert r.status_code == 503 and r.get_json() == {
        "error": "The database is unavailable.",
        "error_code": "DATABASE_UNAVAILABLE",
        "code": 503,
    }
    assert "Cannot connect" in caplog.text  # the operator's log has the reason
    assert "never" not in _db_keys(settings)


def test_the_list_is_not_kept_by_browsers_or_proxies(admin):
    r = admin.get(f"{API}/keys")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("key_id", ["999999", "0", "abc", "99999999999999999999"])
def test_unknown_key_is_404(admin, key_id):
    r = admin.delete(f"{API}/keys/{key_id}")
    assert r.status_code == 404 and r.get_json()["error_code"] == "KEY_NOT_FOUND"


def test_the_cli_and_the_api_share_one_implementation(world_keys):
    admin, _, settings, baseline = world_keys
    made = admin.post(f"{API}/keys", json={"name": "shared", "scope": "read"}).get_json()
    cli_rows = {r["name"]: r for r in apikeys.list_keys(settings)}
    assert cli_rows["shared"]["id"] == made["key"]["id"]
    assert cli_rows["shared"]["key_prefix"] == made["key"]["key_prefix"]
    # the CLI's rules hold for the API's names and the other way round
    with pytest.raises(apikeys.KeyNameTaken):
        apikeys.create(settings, "shared", "admin")
    with pytest.raises(apikeys.QbrError, match="reserved"):
        apikeys.create(settings, "oidc:x@y.z", "admin")
    assert apikeys.revoke(settings, "shared") is True
    row = next(k for k in admin.get(f"{API}/keys").get_json()["keys"] if k["name"] == "shared")
    assert row["revoked"] is True
    assert [(a[0], a[1]) for a in _audit(settings)[baseline:]] == [
        ("writer", "apikey.create"),
        ("cli", "apikey.revoke"),
    ]


def test_the_document_declares_the_key_routes(admin):
    doc = admin.get(f"{API}/openapi.json").get_json()
    ops = {
        ("get", "/keys"): "KeyList",
        ("post", "/keys"): "KeyCreated",
        ("delete", "/keys/{key_id}"): "KeyRevoked",
    }
    for (method, path), shape in ops.items():
        op = doc["paths"][API + path][method]
        ok = "201" if method == "post" else "200"
        schema = op["responses"][ok]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{shape}"}
        assert {"401", "403"} <= set(op["responses"]) and "admin" in op["description"]
    key_shape = doc["components"]["schemas"]["ApiKey"]
    assert set(key_shape["properties"]) == FIELDS
    assert "key_hash" not in json.dumps(doc["components"]["schemas"])
