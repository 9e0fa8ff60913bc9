"""Keys, scopes, sessions, CSRF and the audit log."""

from __future__ import annotations

import hashlib
import logging

import pytest

from qbr import apikeys, db
from tests.api.conftest import SpecClient
from tests.api.world import RUN_OK

API = "/api/qbr"
SAMPLE_ARGS = {
    "metric": "rhem",
    "client_id": "101",
    "batch_id": RUN_OK,
    "rest": "x",
    "name": "index.html",
    "flag_id": "0" * 32,
    "key_id": "1",
}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def test_every_route_but_health_needs_a_key(app):
    """Walk the URL map: without a key every QBR rule and method answers 401."""
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("qbr."):
            continue
        _, url = rule.build({a: SAMPLE_ARGS[a] for a in rule.arguments}, append_unknown=False)
        for method in METHODS:
            resp = client.open(url, method=method)
            if rule.endpoint == "qbr.health.health" and method in rule.methods:
                assert resp.status_code == 200, (url, method)
                continue
            # issue 12: the OIDC sign-in routes cannot need a key; unconfigured they are 404
            if rule.endpoint.startswith("qbr.oidc.") and method in rule.methods:
                assert resp.status_code == (200 if method == "OPTIONS" else 404), (url, method)
                if method not in ("HEAD", "OPTIONS"):
                    assert resp.get_json()["error_code"] == "OIDC_NOT_CONFIGURED"
                continue
            assert resp.status_code == 401, (rule.endpoint, url, method, resp.status_code)
            if method != "HEAD":
                assert resp.get_json()["error_code"] == "UNAUTHORIZED"
            assert "Bearer" in resp.headers["WWW-Authenticate"]
            checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "qbr_deadbeef_not-a-real-key"},
        {"X-API-Key": "something"},
        {"X-API-Key": ""},
        {"Authorization": "Bearer qbr_deadbeef_nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "qbr_" + "x" * 5000},
    ],
)
def test_bad_keys_are_401(api, headers):
    r = api.get(f"{API}/periods", headers=headers)
    assert r.status_code == 401


def test_bearer_and_header_keys_work(api, keys):
    assert api.get(f"{API}/periods", headers={"X-API-Key": keys["read"]}).status_code == 200
    bearer = {"Authorization": f"Bearer {keys['read']}"}
    assert api.get(f"{API}/periods", headers=bearer).status_code == 200


def test_read_scope_cannot_write(reader):
    for method, path, body in [
        ("POST", "/thresholds", {"metric": "rhem", "warning": 0.2, "critical": 0.3}),
        ("PUT", "/thresholds/rhem", {"warning": 0.2, "critical": 0.3}),
        ("DELETE", "/thresholds/rhem", None),
        (
            "POST",
            "/metrics/manual",
            {"period": "2025-01", "metrics": [{"metric": "employees", "value": 1}]},
        ),
        ("DELETE", "/metrics/manual?period=2025-01&metric=employees", None),
        ("POST", "/refresh", {}),
    ]:
        r = reader.open(method, API + path, json=body)
        assert r.status_code == 403, (method, path)
        assert r.get_json()["error_code"] == "FORBIDDEN"


def test_keys_are_stored_hashed_and_never_logged(marts_settings, keys, api, caplog):
    with db.connect(marts_settings) as conn:
        rows = conn.execute("select key_hash, key_prefix from qbr_app.api_keys").fetchall()
    hashes = {r[0] for r in rows}
    assert hashlib.sha256(keys["admin"].encode()).hexdigest() in hashes
    assert all(keys["admin"] not in r[0] and keys["admin"] != r[1] for r in rows)
    caplog.set_level(logging.DEBUG)
    api.get(f"{API}/periods", headers={"X-API-Key": keys["admin"]})
    api.get(f"{API}/periods", headers={"X-API-Key": keys["admin"] + "x"})
    assert keys["admin"] not in caplog.text


def test_revoked_key_is_401_and_last_used_is_kept(make_api):
    admin, reader, settings = make_api()
    assert reader.get(f"{API}/periods").status_code == 200
    with db.connect(settings) as conn:
        used = conn.execute(
            "select last_used_at from qbr_app.api_keys where name = 'looker'"
        ).fetchone()[0]
    assert used is not None
    apikeys.revoke(settings, "looker")
    assert reader.get(f"{API}/periods").status_code == 401


def _session(client: SpecClient) -> tuple[SpecClient, str]:
    """Sign in with the client's key; return a cookie-only client and the CSRF token."""
    r = client.post(f"{API}/session")
    assert r.status_code == 201
    cookie_client = SpecClient.__new__(SpecClient)
    cookie_client.__dict__.update(client.__dict__)
    cookie_client.headers = {}
    return cookie_client, r.get_json()["csrf_token"]


def test_session_cookie_attributes(make_api):
    admin, _, _ = make_api()
    r = admin.post(f"{API}/session")
    body = r.get_json()
    assert body["key_name"] == "writer" and body["scope"] == "admin" and body["via"] == "session"
    cookies = {c.split("=", 1)[0]: c for c in r.headers.getlist("Set-Cookie")}
    session = cookies["qbr_session"]
    assert (
        "HttpOnly" in session and "SameSite=Strict" in session and "Path=/;" in session
    )  # covers the dashboard (issue 10)
    assert "Max-Age=43200" in session
    assert "HttpOnly" not in cookies["qbr_csrf"] and "SameSite=Strict" in cookies["qbr_csrf"]
    assert body["csrf_token"] in cookies["qbr_csrf"]
    assert r.headers["Cache-Control"] == "no-store"


def test_session_reads_and_csrf_guarded_writes(make_api):
    admin, _, settings = make_api()
    browser, csrf = _session(admin)
    assert browser.get(f"{API}/smartnumbers").status_code == 200
    assert browser.get(f"{API}/session").get_json()["via"] == "session"
    write = {"metric": "rhem", "warning": 0.2, "critical": 0.3}
    r = browser.post(f"{API}/thresholds", json=write)
    assert r.status_code == 403 and r.get_json()["error_code"] == "CSRF_FAILED"
    r = browser.post(f"{API}/thresholds", json=write, headers={"X-CSRF-Token": "guess"})
    assert r.status_code == 403
    r = browser.post(f"{API}/thresholds", json=write, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    # a session cannot mint sessions: only a key can
    assert browser.post(f"{API}/session").status_code == 401
    # sign out (a write: CSRF needed), then the cookie is dead
    assert browser.delete(f"{API}/session").status_code == 403
    r = browser.delete(f"{API}/session", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.get_json() == {"logged_out": True}
    assert any("qbr_session=;" in c for c in r.headers.getlist("Set-Cookie"))
    with db.connect(settings) as conn:
        assert conn.execute("select count(*) from qbr_app.api_sessions").fetchone()[0] == 0


def test_session_ends_with_key_revocation_and_expiry(make_api):
    admin, reader, settings = make_api()
    browser, _ = _session(reader)
    assert browser.get(f"{API}/periods").status_code == 200
    with db.connect(settings) as conn:
        conn.execute(
            "update qbr_app.api_sessions "
            "set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'"
        )
    assert browser.get(f"{API}/periods").status_code == 401
    browser, _ = _session(reader)
    assert browser.get(f"{API}/periods").status_code == 200
    apikeys.revoke(settings, "looker")
    assert browser.get(f"{API}/periods").status_code == 401


def test_read_session_cannot_write_even_with_csrf(make_api):
    _, reader, _ = make_api()
    browser, csrf = _session(reader)
    r = browser.post(
        f"{API}/thresholds",
        json={"metric": "rhem", "warning": 0.2, "critical": 0.3},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 403 and r.get_json()["error_code"] == "FORBIDDEN"


def test_every_write_is_audited(make_api, monkeypatch):
    admin, _, settings = make_api()
    admin.post(f"{API}/thresholds", json={"metric": "rhem", "warning": 0.2, "critical": 0.3})
    admin.delete(f"{API}/thresholds/rhem")
    admin.post(
        f"{API}/metrics/manual",
        json={"period": "2025-01", "metrics": [{"metric": "employees", "value": 9}]},
    )
    admin.delete(f"{API}/metrics/manual?period=2025-01&metric=employees")
    import qbr.refresh

    monkeypatch.setattr(
        qbr.refresh,
        "start_background",
        lambda *a, **k: "bc_01JD00000000000000000000AA",
        raising=False,
    )
    admin.post(f"{API}/refresh", json={})
    browser, csrf = _session(admin)
    browser.delete(f"{API}/session", headers={"X-CSRF-Token": csrf})
    with db.connect(settings) as conn:
        rows = conn.execute(
            "select actor, action, target, at is not null, details->>'via' from qbr_app.audit_log "
            "where actor = 'writer' order by id"
        ).fetchall()
    assert [(r[1], r[2]) for r in rows] == [
        ("threshold.set", "rhem"),
        ("threshold.delete", "rhem"),
        ("manual.set", "2025-01"),
        ("manual.revert", "2025-01"),
        ("refresh.start", "bc_01JD00000000000000000000AA"),
        ("session.create", "writer"),
        ("session.delete", "writer"),
    ]
    assert all(r[0] == "writer" and r[3] for r in rows)
    assert rows[-1][4] == "session"
