"""`sandbox.servers.SERVERS` (what the source registry names) and the shared token store."""

from __future__ import annotations

import pytest
import requests

from sandbox.servers import SERVERS, Sandbox, default_credentials
from sandbox.servers import tokens as token_store
from sandbox.servers.common import SharedState
from sandbox.servers.faults import Faults
from sandbox.servers.testing import TinyMSP


def test_servers_are_named_in_port_order_and_make_standalone_apps() -> None:
    assert list(SERVERS) == ["connectwise", "quickbooks", "ninjaone"]
    assert default_credentials() == {
        name: dict(server.default_credentials) for name, server in SERVERS.items()
    }
    state = SharedState(TinyMSP())
    state.faults["ninjaone"] = Faults()
    app = SERVERS["ninjaone"].create_app(state)  # no controller: no /_sandbox/ routes
    client = app.test_client()
    creds = SERVERS["ninjaone"].default_credentials
    issued = client.post(
        "/ws/oauth/token",
        data={"grant_type": "client_credentials", **creds, "scope": "monitoring"},
    ).get_json()
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    orgs = client.get("/v2/organizations", headers=bearer).get_json()
    assert [o["id"] for o in orgs] == [o["id"] for o in TinyMSP().ninja_organizations]
    assert client.get("/_sandbox/status").status_code == 404
    missing = client.get("/v2/nothing-here/at/all").get_json()
    assert missing["resultCode"] == "NotFound"  # the server's own error shape, app-wide


def test_sandbox_urls_come_from_each_server() -> None:
    with Sandbox(TinyMSP()) as sb:
        ports = sb.ports
        realm = sb.credentials["quickbooks"]["realm_id"]
        assert sb.urls == {
            "connectwise": f"http://127.0.0.1:{ports['connectwise']}/v4_6_release/apis/3.0/",
            "connectwise_site": f"http://127.0.0.1:{ports['connectwise']}/",
            "quickbooks": f"http://127.0.0.1:{ports['quickbooks']}/v3/company/{realm}/",
            "quickbooks_token": f"http://127.0.0.1:{ports['quickbooks']}/oauth2/v1/tokens/bearer",
            "ninjaone": f"http://127.0.0.1:{ports['ninjaone']}/",
            "ninjaone_token": f"http://127.0.0.1:{ports['ninjaone']}/ws/oauth/token",
        }
        for source, control in sb.control_urls.items():
            status = requests.get(control + "status", timeout=5).json()
            assert status["sources"][source]["url"] == sb.urls[source]


def test_access_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_store, "MAX_ACCESS_TOKENS", 3)
    store = token_store.AccessTokens(lifetime=60)
    issued = [store.issue() for _ in range(5)]
    assert [store.check(t) for t in issued] == ["invalid", "invalid", "ok", "ok", "ok"]
    store.expire(issued[-1])
    assert store.check(issued[-1]) == "expired"


def test_rotating_tokens_share_the_access_store() -> None:
    store = token_store.RotatingTokens("first", access_lifetime=60)
    answer = store.refresh("first")
    assert answer is not None and answer["refresh_token"] != "first"
    assert answer["access_token"].startswith("eyJsandbox.")
    assert store.check(answer["access_token"]) == "ok"
    assert store.refresh("first") is None  # strict: the rotated token died
    assert store.exchanges == 2 and store.latest_refresh_token == answer["refresh_token"]
