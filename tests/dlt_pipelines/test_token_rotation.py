"""QuickBooks token rotation survives a timeout (issue 13 item 1).

Reproduced: the token endpoint answered after the client's timeout, having
rotated the refresh token already; the client resent the exchange blindly with
the retired token, got `invalid_grant`, and said only "refused". Now:

- the exchange is never resent blindly: after an unknown outcome the same token
  is offered exactly once more, on purpose;
- a lenient provider (the sandbox's `lenient_tokens`: a retired token still
  answered with its successor for a grace period) hands the new token over and
  nothing is lost;
- a strict provider (the sandbox's default: the old token dies at once) ends in
  one message that says what happened and names re-authorization;
- the newly issued token is stored before anything uses it;
- an exchange killed mid-flight leaves a trace the next run reports.

The sandbox token endpoint's `slow_token` fault rotates first and answers late.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dlt_pipelines.auth import MemoryTokenStore, QuickBooksOAuth2, fingerprint
from dlt_pipelines.errors import ReauthorizationRequired, SourceError
from sandbox.msp import generate
from sandbox.servers.runner import Sandbox
from tests.dlt_pipelines.conftest import TODAY

#: the client's timeout here; the late answer comes after it
TIMEOUT_S = 1


@pytest.fixture(scope="module")
def sandbox(fast_http: dict[str, str]) -> Iterator[Sandbox]:
    with Sandbox(generate("small", seed=7, today=TODAY)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> Iterator[None]:
    # dlt's own setting: the client before and after the fix both honour it
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", str(TIMEOUT_S))
    yield
    sandbox.clear_faults()


def _auth(sandbox: Sandbox, store: MemoryTokenStore) -> QuickBooksOAuth2:
    creds = sandbox.credentials["quickbooks"]
    return QuickBooksOAuth2(
        sandbox.urls["quickbooks_token"],
        creds["client_id"],
        creds["client_secret"],
        creds["realm_id"],
        None,
        store,
    )


def _current(sandbox: Sandbox) -> MemoryTokenStore:
    """A store holding the sandbox's current refresh token (what the warehouse keeps)."""
    realm = sandbox.credentials["quickbooks"]["realm_id"]
    return MemoryTokenStore(
        {"refresh_token": sandbox.qbo_tokens.latest_refresh_token, "realm_id": realm}
    )


def _works(sandbox: Sandbox, access_token: str) -> bool:
    r = requests.get(
        sandbox.urls["quickbooks"] + "query",
        params={"query": "SELECT COUNT(*) FROM Account", "minorversion": "75"},
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        timeout=10,
    )
    return r.status_code == 200


def test_strict_provider_late_answer_says_the_token_is_lost_and_to_reauthorize(sandbox: Any):
    store = _current(sandbox)
    before = sandbox.qbo_tokens.exchanges
    sandbox.fault("quickbooks", "slow_token", seconds=TIMEOUT_S + 1.5)
    auth = _auth(sandbox, store)
    with pytest.raises(ReauthorizationRequired) as failure:
        auth.renew()
    message = str(failure.value)
    assert "timed out" in message and "rotated" in message and "never arrived" in message
    assert "re-authorize" in message and "SOURCES__QUICKBOOKS__REFRESH_TOKEN" in message
    assert "\n" not in message
    # the original exchange and one deliberate probe with the same token, no more
    assert sandbox.qbo_tokens.exchanges - before == 2
    assert auth.access_token is None


def test_lenient_provider_late_answer_recovers_the_new_token(sandbox: Any):
    store = _current(sandbox)
    old = store.data["refresh_token"]
    before = sandbox.qbo_tokens.exchanges
    sandbox.fault("quickbooks", "lenient_tokens", grace=60)
    sandbox.fault("quickbooks", "slow_token", seconds=TIMEOUT_S + 1.5)
    auth = _auth(sandbox, store)
    auth.renew()
    issued = sandbox.qbo_tokens.latest_refresh_token
    assert issued != old
    assert store.data["refresh_token"] == auth.refresh_token == issued
    assert "exchange_token" not in store.data  # nothing left in doubt
    assert sandbox.qbo_tokens.exchanges - before == 2
    assert _works(sandbox, auth.access_token)
    # and the stored token is the live one: the next run renews from it (strict again)
    sandbox.clear_faults()
    again = _auth(sandbox, store)
    again.renew()
    assert store.data["refresh_token"] == sandbox.qbo_tokens.latest_refresh_token != issued


def test_an_exchange_killed_mid_flight_is_named_on_the_next_run(sandbox: Any):
    """The process died after sending the exchange (the store noted it first)."""
    store = _current(sandbox)
    token = store.data["refresh_token"]
    store.data.update(exchange_token=fingerprint(token), exchange_started_at="2026-10-15T03:00")
    assert sandbox.qbo_tokens.refresh(token) is not None  # the lost exchange, server side
    with pytest.raises(ReauthorizationRequired) as failure:
        _auth(sandbox, store).renew()
    message = str(failure.value)
    assert "interrupted" in message and "2026-10-15T03:00" in message
    assert "re-authorize" in message


def test_an_exchange_killed_mid_flight_is_recovered_by_a_lenient_provider(sandbox: Any):
    store = _current(sandbox)
    token = store.data["refresh_token"]
    store.data.update(exchange_token=fingerprint(token), exchange_started_at="2026-10-15T03:00")
    lost = sandbox.qbo_tokens.refresh(token)["refresh_token"]
    sandbox.fault("quickbooks", "lenient_tokens", grace=60)
    auth = _auth(sandbox, store)
    auth.renew()
    assert store.data["refresh_token"] == lost == sandbox.qbo_tokens.latest_refresh_token
    assert _works(sandbox, auth.access_token)


def test_the_exchange_marks_itself_in_the_store_before_sending(sandbox: Any):
    store = _current(sandbox)
    token = store.data["refresh_token"]
    seen: list[dict] = []
    original = store.save

    def save(data: dict) -> None:
        seen.append({**data, "_exchanges": sandbox.qbo_tokens.exchanges})
        original(data)

    store.save = save  # type: ignore[method-assign]
    before = sandbox.qbo_tokens.exchanges
    _auth(sandbox, store).renew()
    assert seen[0]["exchange_token"] == fingerprint(token) and seen[0]["_exchanges"] == before
    assert seen[-1]["refresh_token"] == sandbox.qbo_tokens.latest_refresh_token
    assert "exchange_token" not in seen[-1]


def test_a_new_token_is_stored_before_it_is_used(sandbox: Any):
    """If the new refresh token cannot be stored, nothing goes on with it."""

    class Unwritable(MemoryTokenStore):
        def save(self, data: dict) -> None:
            if "exchange_token" in data:  # the note before sending still works
                return super().save(data)
            raise OSError("disk full")

    store = Unwritable(_current(sandbox).data)
    auth = _auth(sandbox, store)
    with pytest.raises(SourceError, match="could not be stored"):
        auth.renew()
    assert auth.access_token is None  # not used for a single request


def test_a_lost_rotation_is_reported_the_same_by_every_resource(sandbox: Any):
    """Resources extract in parallel and share the auth: after the loss, no thread asks
    QuickBooks again (and none reports a vaguer refusal)."""
    store = _current(sandbox)
    sandbox.fault("quickbooks", "slow_token", seconds=TIMEOUT_S + 1.5)
    auth = _auth(sandbox, store)
    with pytest.raises(ReauthorizationRequired) as first:
        auth.renew()
    before = sandbox.qbo_tokens.exchanges
    with pytest.raises(ReauthorizationRequired) as second:
        auth.renew()
    assert str(second.value) == str(first.value) and "rotated" in str(second.value)
    assert sandbox.qbo_tokens.exchanges == before
