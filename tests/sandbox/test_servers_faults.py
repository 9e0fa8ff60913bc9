"""Every fault kind, switched from Python and over the `/_sandbox/` control API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from sandbox.servers import Sandbox
from sandbox.servers.testing import TinyMSP


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(TinyMSP()) as sb:
        yield sb


def cw_get(sb: Sandbox, path: str = "service/tickets", timeout: float = 5, **params: object):
    creds = sb.credentials["connectwise"]
    return requests.get(
        sb.urls["connectwise"] + path,
        params=params,
        auth=(f"{creds['company_id']}+{creds['public_key']}", creds["private_key"]),
        headers={"clientId": creds["client_id"]},
        timeout=timeout,
    )


def qbo_token(sb: Sandbox) -> dict:
    creds = sb.credentials["quickbooks"]
    return requests.post(
        sb.urls["quickbooks_token"],
        auth=(creds["client_id"], creds["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": sb.qbo_tokens.latest_refresh_token},
        timeout=5,
    ).json()


def qbo_query(sb: Sandbox, access: str, text: str) -> requests.Response:
    return requests.get(
        sb.urls["quickbooks"] + "query",
        params={"query": text, "minorversion": 75},
        headers={"Authorization": f"Bearer {access}"},
        timeout=5,
    )


def ninja_headers(sb: Sandbox) -> dict:
    creds = sb.credentials["ninjaone"]
    access = requests.post(
        sb.urls["ninjaone_token"],
        data={"grant_type": "client_credentials", "scope": "monitoring", **creds},
        timeout=5,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {access}"}


def test_rate_limit_then_recovery(sandbox: Sandbox) -> None:
    sandbox.fault("connectwise", "rate_limit", count=2, retry_after=7)
    for _ in range(2):
        limited = cw_get(sandbox)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "7"
        assert limited.json()["code"] == "TooManyRequests"
    assert cw_get(sandbox).status_code == 200
    assert sandbox.faults("connectwise").active() == []


def test_rate_limit_in_quickbooks_shape(sandbox: Sandbox) -> None:
    access = qbo_token(sandbox)["access_token"]
    sandbox.fault("quickbooks", "rate_limit", retry_after=2, path="/query")
    limited = qbo_query(sandbox, access, "SELECT * FROM Invoice")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert limited.json()["Fault"]["Error"][0]["code"] == "3001"
    assert qbo_query(sandbox, access, "SELECT * FROM Invoice").status_code == 200


def test_server_error_for_k_requests_scoped_by_path(sandbox: Sandbox) -> None:
    sandbox.fault("connectwise", "server_error", count=2, path="/time/entries")
    assert cw_get(sandbox, "service/tickets").status_code == 200  # out of scope
    assert cw_get(sandbox, "time/entries").status_code == 500
    assert cw_get(sandbox, "time/entries").status_code == 500
    assert cw_get(sandbox, "time/entries").status_code == 200


def test_slow_goes_past_a_client_timeout(sandbox: Sandbox) -> None:
    sandbox.fault("connectwise", "slow", seconds=1.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        cw_get(sandbox, timeout=0.3)
    assert time.monotonic() - started < 0.9
    assert cw_get(sandbox, timeout=2).status_code == 200


def test_drop_connection_mid_response_on_page_two(sandbox: Sandbox) -> None:
    sandbox.fault("connectwise", "drop_connection", page=2)
    assert cw_get(sandbox, pageSize=10, page=1).status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        cw_get(sandbox, pageSize=10, page=2)
    assert cw_get(sandbox, pageSize=10, page=2).status_code == 200  # once only


def test_drop_connection_without_response(sandbox: Sandbox) -> None:
    headers = ninja_headers(sandbox)
    sandbox.fault("ninjaone", "drop_connection", page=1, mode="no_response")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(sandbox.urls["ninjaone"] + "v2/devices-detailed", headers=headers, timeout=5)
    access = qbo_token(sandbox)["access_token"]
    sandbox.fault("quickbooks", "drop_connection", page=2)
    assert qbo_query(sandbox, access, "SELECT * FROM Invoice MAXRESULTS 5").status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        qbo_query(sandbox, access, "SELECT * FROM Invoice STARTPOSITION 6 MAXRESULTS 5")


def test_expired_token_once(sandbox: Sandbox) -> None:
    access = qbo_token(sandbox)["access_token"]
    sandbox.fault("quickbooks", "expired_token")
    refused = qbo_query(sandbox, access, "SELECT COUNT(*) FROM Invoice")
    assert refused.status_code == 401
    assert refused.json()["Fault"]["Error"][0]["code"] == "3200"
    # the token stays expired; a refresh brings a working one
    assert qbo_query(sandbox, access, "SELECT COUNT(*) FROM Invoice").status_code == 401
    fresh = qbo_token(sandbox)["access_token"]
    assert qbo_query(sandbox, fresh, "SELECT COUNT(*) FROM Invoice").status_code == 200

    headers = ninja_headers(sandbox)
    sandbox.fault("ninjaone", "expired_token")
    url = sandbox.urls["ninjaone"] + "v2/organizations"
    assert requests.get(url, headers=headers, timeout=5).status_code == 401
    assert requests.get(url, headers=ninja_headers(sandbox), timeout=5).status_code == 200

    sandbox.fault("connectwise", "expired_token")
    assert cw_get(sandbox).status_code == 401
    assert cw_get(sandbox).status_code == 200


def test_malformed_records_in_the_next_listing(sandbox: Sandbox) -> None:
    sandbox.fault("connectwise", "malformed_record", path="/time/entries")
    assert len(cw_get(sandbox, "service/tickets", pageSize=5).json()) == 5  # out of scope
    page = cw_get(sandbox, "time/entries", pageSize=5).json()
    assert len(page) == 8
    broken = page[5:]
    assert "id" not in broken[0]
    assert any(isinstance(v, str) and v == "not-a-number" for v in broken[1].values())
    assert broken[2]["actualHours"] < 0 and broken[2]["hoursBilled"] <= 0
    assert len(cw_get(sandbox, "time/entries", pageSize=5).json()) == 5  # once

    access = qbo_token(sandbox)["access_token"]
    sandbox.fault("quickbooks", "malformed_record", variants="missing_id,negative")
    rows = qbo_query(sandbox, access, "SELECT * FROM Invoice MAXRESULTS 3").json()
    invoices = rows["QueryResponse"]["Invoice"]
    assert len(invoices) == 5
    assert "Id" not in invoices[3] and invoices[4]["TotalAmt"] < 0

    sandbox.fault("ninjaone", "malformed_record", variants=["wrong_type"])
    devices = requests.get(
        sandbox.urls["ninjaone"] + "v2/devices-detailed",
        params={"pageSize": 3},
        headers=ninja_headers(sandbox),
        timeout=5,
    ).json()
    assert len(devices) == 4 and devices[3]["organizationId"] == "not-a-number"


def test_down_until_cleared(sandbox: Sandbox) -> None:
    sandbox.fault("quickbooks", "down")
    for _ in range(3):
        with pytest.raises(requests.exceptions.ConnectionError):
            qbo_token(sandbox)
    sandbox.clear_faults("quickbooks")
    assert "access_token" in qbo_token(sandbox)

    sandbox.fault("connectwise", "down", mode="503")
    assert cw_get(sandbox).status_code == 503
    assert cw_get(sandbox).status_code == 503
    sandbox.clear_faults()
    assert cw_get(sandbox).status_code == 200


def test_control_api(sandbox: Sandbox) -> None:
    control = sandbox.control_urls["connectwise"]
    status = requests.get(control + "status", timeout=5).json()
    assert status["running"] is True and set(status["sources"]) == {
        "connectwise",
        "quickbooks",
        "ninjaone",
    }
    set_fault = requests.post(
        control + "fault", json={"kind": "server_error", "count": 1}, timeout=5
    )
    assert set_fault.status_code == 200 and set_fault.json()["source"] == "connectwise"
    assert cw_get(sandbox).status_code == 500
    # one server can steer another's faults
    requests.post(
        control + "fault", json={"kind": "down", "mode": "503", "source": "ninjaone"}, timeout=5
    )
    assert sandbox.faults("ninjaone").active()[0]["kind"] == "down"
    # the control API itself is never faulted
    assert requests.get(sandbox.control_urls["ninjaone"] + "status", timeout=5).status_code == 200
    cleared = requests.post(control + "clear", json={}, timeout=5).json()
    assert all(not s["faults"] for s in cleared["sources"].values())
    bad = requests.post(control + "fault", json={"kind": "meteor"}, timeout=5)
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]
    advanced = requests.post(control + "advance", json={"days": 1}, timeout=5).json()
    assert advanced["result"] == {"created": 1, "updated": 1, "deleted": 1}
    assert advanced["now"] == "2025-03-16T12:00:00Z"
    assert cw_get(sandbox, "service/tickets/count").json() == {"count": 31}
