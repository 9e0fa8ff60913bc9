"""NinjaOne imitation over real HTTP: client-credentials token and `after` paging."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox.servers import Sandbox
from sandbox.servers.testing import TinyMSP


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(TinyMSP()) as sb:
        yield sb


def token(sandbox: Sandbox, **overrides: str) -> requests.Response:
    creds = sandbox.credentials["ninjaone"]
    form = {
        "grant_type": "client_credentials",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "scope": "monitoring",
        **overrides,
    }
    return requests.post(sandbox.urls["ninjaone_token"], data=form, timeout=5)


@pytest.fixture(scope="module")
def headers(sandbox: Sandbox) -> dict[str, str]:
    response = token(sandbox)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    return {"Authorization": f"Bearer {body['access_token']}"}


def walk(sandbox: Sandbox, headers: dict, path: str, page_size: int) -> list[list[dict]]:
    pages, after = [], None
    while True:
        params = {"pageSize": page_size, **({"after": after} if after else {})}
        response = requests.get(sandbox.urls["ninjaone"] + path, params=params, headers=headers)
        assert response.status_code == 200
        page = response.json()
        assert isinstance(page, list)
        pages.append(page)
        if len(page) < page_size:
            return pages
        after = page[-1]["id"]


def test_token_refusals(sandbox: Sandbox) -> None:
    assert token(sandbox, client_secret="wrong").status_code == 401
    assert token(sandbox, grant_type="password").status_code == 400
    assert token(sandbox, scope="everything").json() == {"error": "invalid_scope"}


def test_api_needs_a_valid_bearer(sandbox: Sandbox) -> None:
    url = sandbox.urls["ninjaone"] + "v2/organizations"
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = requests.get(url, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["resultCode"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("path", "attr"),
    [
        ("v2/devices-detailed", "ninja_devices"),
        ("v2/organizations", "ninja_organizations"),
        ("v2/locations", "ninja_locations"),
    ],
)
def test_after_paging_covers_every_record_once(
    sandbox: Sandbox, headers: dict, path: str, attr: str
) -> None:
    pages = walk(sandbox, headers, path, page_size=2)
    records = [r for page in pages for r in page]
    assert records == sorted(getattr(sandbox.msp, attr), key=lambda r: r["id"])


def test_device_pages_are_short_at_the_end(sandbox: Sandbox, headers: dict) -> None:
    pages = walk(sandbox, headers, "v2/devices-detailed", page_size=10)
    assert [len(p) for p in pages] == [10, 10, 5]
    everything = requests.get(
        sandbox.urls["ninjaone"] + "v2/devices-detailed", headers=headers, timeout=5
    ).json()
    assert len(everything) == 25


def test_unknown_resource_and_bad_params(sandbox: Sandbox, headers: dict) -> None:
    base = sandbox.urls["ninjaone"]
    missing = requests.get(base + "v2/widgets", headers=headers, timeout=5)
    assert missing.status_code == 404 and missing.json()["resultCode"] == "NOT_FOUND"
    bad = requests.get(base + "v2/devices-detailed?pageSize=x", headers=headers, timeout=5)
    assert bad.status_code == 400
