"""Issue 12 item 8: OpenID Connect sign-in against a local provider started by the tests.

The whole browser round trip: our login route -> the provider's authorize
endpoint (real HTTP) -> our callback -> session cookie -> the API. Then every
way it must refuse: a user not on the allow-list, a bad signature, a wrong
nonce, an expired token, a foreign audience, a state that does not match,
a replayed callback, a revoked person. API keys keep working throughout.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from api import create_app
from qbr import apikeys
from tests.api.conftest import SpecClient
from tests.api.oidc_provider import Provider

API = "/api/qbr"
ALLOW = "alice@msp.example=admin, @msp.example=read"


@pytest.fixture(scope="module")
def provider():
    with Provider() as p:
        yield p


@pytest.fixture(scope="module")
def oidc_db(marts_db):
    return marts_db("qbr_oidc")


@pytest.fixture(scope="module")
def oidc_settings(oidc_db, provider):
    return oidc_db.model_copy(
        update={
            "oidc_issuer": provider.url,
            "oidc_client_id": provider.client_id,
            "oidc_client_secret": provider.client_secret,
            "oidc_allow": ALLOW,
            "oidc_label": "Sign in with Microsoft",
        }
    )


@pytest.fixture
def client(oidc_settings, provider):
    provider.mode, provider.user = None, "alice@msp.example"
    app = create_app({"QBR_SETTINGS": oidc_settings, "POOL_MIN_SIZE": 0})
    yield SpecClient(app)
    app.extensions["qbr_pool"].close()


def start(client: SpecClient) -> str:
    """Our login route, then the provider's authorize: returns our callback's path + query."""
    r = client.get(f"{API}/session/oidc/login")
    assert r.status_code == 302
    target = r.headers["Location"]
    q = parse_qs(urlsplit(target).query)
    assert q["response_type"] == ["code"] and q["code_challenge_method"] == ["S256"]
    assert q["state"][0] and q["nonce"][0] and "openid" in q["scope"][0].split()
    back = requests.get(target, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["Location"])
    assert callback.path == f"{API}/session/oidc/callback"
    return f"{callback.path}?{callback.query}"


def sign_in(client: SpecClient):
    return client.get(start(client))


def session_cookie(client: SpecClient):
    return client.client.get_cookie("qbr_session", path="/")


def test_config_tells_the_dashboard_to_show_the_button(client):
    assert client.app.config["QBR_OIDC_ENABLED"] is True
    assert client.app.config["QBR_OIDC_LABEL"] == "Sign in with Microsoft"


def test_allowed_user_gets_a_session_with_the_scope_of_the_list(client, oidc_db):
    r = sign_in(client)
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert session_cookie(client) is not None
    me = client.get(f"{API}/session").get_json()
    assert me == {
        "key_name": "oidc:alice@msp.example",
        "scope": "admin",
        "via": "session",
        "expires_at": me["expires_at"],
    }
    assert client.get(f"{API}/periods").status_code == 200
    # API keys keep working next to OIDC; without either, 401
    keyed = SpecClient(client.app, {"X-API-Key": apikeys.create(oidc_db, "oidc-test-read", "read")})
    assert keyed.get(f"{API}/periods").status_code == 200
    assert SpecClient(client.app).get(f"{API}/periods").status_code == 401


def test_domain_user_gets_read(client, provider):
    provider.user = "bob@msp.example"
    assert sign_in(client).status_code == 302
    me = client.get(f"{API}/session").get_json()
    assert (me["key_name"], me["scope"]) == ("oidc:bob@msp.example", "read")
    r = client.put(
        f"{API}/thresholds/reactive_tickets_closed",
        json={"direction": "higher_is_better", "green_min": 1, "yellow_min": 0},
        headers={"X-CSRF-Token": client.client.get_cookie("qbr_csrf", path="/").value},
    )
    assert r.status_code == 403  # read scope cannot write


def test_user_not_on_the_list_is_refused(client, provider):
    provider.user = "eve@elsewhere.example"
    r = sign_in(client)
    assert r.status_code == 403 and r.get_json()["error_code"] == "OIDC_NOT_ALLOWED"
    assert session_cookie(client) is None


@pytest.mark.parametrize("mode", ["bad_signature", "wrong_nonce", "expired", "wrong_aud"])
def test_bad_id_tokens_are_refused(client, provider, mode):
    provider.mode = mode
    r = sign_in(client)
    assert r.status_code == 401 and r.get_json()["error_code"] == "OIDC_INVALID_TOKEN", r.json
    assert session_cookie(client) is None


def test_state_must_match_and_is_used_once(client, provider):
    callback = start(client)
    path, query = callback.split("?", 1)
    params = parse_qs(query)
    forged = f"{path}?code={params['code'][0]}&state=forged-{params['state'][0]}"
    r = client.get(forged)
    assert r.status_code == 400 and r.get_json()["error_code"] == "OIDC_STATE_MISMATCH"
    assert client.get(callback).status_code == 302  # the genuine one still works once
    replay = client.get(callback)
    assert replay.status_code == 400 and replay.get_json()["error_code"] == "OIDC_STATE_MISMATCH"
    # a callback in a browser that never started the sign-in (no state cookie)
    fresh = start(client)
    stranger = SpecClient(client.app)
    r = stranger.get(fresh)
    assert r.status_code == 400 and r.get_json()["error_code"] == "OIDC_STATE_MISMATCH"


def test_revoking_the_person_locks_them_out(client, provider, oidc_settings):
    provider.user = "carol@msp.example"
    assert sign_in(client).status_code == 302
    assert client.get(f"{API}/periods").status_code == 200
    assert apikeys.revoke(oidc_settings, "oidc:carol@msp.example")
    assert client.get(f"{API}/periods").status_code == 401  # the session ended with it
    r = sign_in(client)
    assert r.status_code == 403 and r.get_json()["error_code"] == "OIDC_REVOKED"


def test_without_configuration_there_is_no_oidc(oidc_db):
    app = create_app({"QBR_SETTINGS": oidc_db, "POOL_MIN_SIZE": 0})
    try:
        assert app.config["QBR_OIDC_ENABLED"] is False
        r = SpecClient(app).get(f"{API}/session/oidc/login")
        assert r.status_code == 404 and r.get_json()["error_code"] == "OIDC_NOT_CONFIGURED"
    finally:
        app.extensions["qbr_pool"].close()
