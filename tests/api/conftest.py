"""API test fixtures: copies of the real marts, keys, and an app per database.

The marts are the real dbt build over the `small` sandbox MSP, made once per
session (`real_marts` in tests/conftest.py); each database here is a copy of
it with the manual entries and run-log rows of tests/api/world.py added.

Every response that goes through the `api` client is validated against the
served /openapi.json: its status must be declared for the operation and its
JSON body must match the declared schema (errors: the Error shape).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from jsonschema import Draft202012Validator
from werkzeug.exceptions import HTTPException

from api import create_app
from qbr import apikeys
from qbr.settings import Settings
from tests.api.world import World, seed_database


class SpecViolation(AssertionError):
    pass


class SpecClient:
    """A Flask test client that checks every response against the OpenAPI document."""

    def __init__(self, app, headers: dict | None = None):
        self.app = app
        self.client = app.test_client()
        self.headers = headers or {}
        with app.app_context():
            from api.spec import openapi_document

            self.doc = openapi_document(app)
        self.components = {"components": self.doc["components"]}

    def with_headers(self, **headers) -> SpecClient:
        clone = SpecClient.__new__(SpecClient)
        clone.__dict__.update(self.__dict__)
        clone.headers = {**self.headers, **headers}
        return clone

    def open(self, method: str, path: str, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        headers = {k: v for k, v in headers.items() if v is not None}
        resp = self.client.open(path, method=method, headers=headers, **kwargs)
        self.check(method, path, resp)
        return resp

    def get(self, path, **kw):
        return self.open("GET", path, **kw)

    def post(self, path, **kw):
        return self.open("POST", path, **kw)

    def put(self, path, **kw):
        return self.open("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.open("DELETE", path, **kw)

    def _operation(self, method: str, path: str) -> dict | None:
        adapter = self.app.url_map.bind("localhost")
        try:
            endpoint, _ = adapter.match(path.split("?")[0], method=method)
        except HTTPException:
            return None
        for rule in self.app.url_map.iter_rules(endpoint):
            from api.spec import _CONVERTER

            template = _CONVERTER.sub(r"{\1}", rule.rule)
            op = self.doc["paths"].get(template, {}).get(method.lower())
            if op:
                return op
        return None

    def _validate(self, schema: dict, body, where: str) -> None:
        errors = list(Draft202012Validator({**schema, **self.components}).iter_errors(body))
        if errors:
            raise SpecViolation(f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}")

    def check(self, method: str, path: str, resp) -> None:
        where = f"{method} {path} -> {resp.status_code}"
        if resp.status_code == 304:
            assert not resp.data, where
        ctype = resp.mimetype
        if resp.status_code >= 400:
            assert ctype == "application/json", f"{where}: error not JSON ({ctype})"
            body = json.loads(resp.data)
            self._validate({"$ref": "#/components/schemas/Error"}, body, where)
            assert body["code"] == resp.status_code, where
            assert "Traceback" not in resp.get_data(as_text=True), where
        op = self._operation(method, path)
        if op is None:
            assert resp.status_code in (401, 404, 405), f"{where}: undocumented route answered"
            return
        declared = op["responses"].get(str(resp.status_code))
        if declared is None:
            raise SpecViolation(f"{where}: status not declared ({sorted(op['responses'])})")
        content = declared.get("content")
        if not content:
            return
        assert ctype in content, f"{where}: content type {ctype} not in {list(content)}"
        if ctype == "application/json":
            self._validate(content[ctype]["schema"], json.loads(resp.data), where)


def _make_app(settings: Settings, **config):
    return create_app({"QBR_SETTINGS": settings, "POOL_MIN_SIZE": 1, **config})


@pytest.fixture(scope="session")
def world(real_marts) -> World:
    """The expected values and periods (from the sandbox's ground truth and the clock)."""
    return World(real_marts.msp, real_marts.today, real_marts.settings.history_start)


@pytest.fixture(scope="session")
def marts_db(clone_real_marts, world) -> Callable[[str], Settings]:
    """Factory: a copy of the real marts with the world's manual entries and runs."""
    return lambda prefix="qbr_api": clone_real_marts(prefix, lambda c: seed_database(c, world))


@pytest.fixture(scope="session")
def marts_settings(marts_db) -> Settings:
    return marts_db("qbr_api")


@pytest.fixture(scope="session")
def keys(marts_settings) -> dict[str, str]:
    return {
        "admin": apikeys.create(marts_settings, "test-admin", "admin"),
        "read": apikeys.create(marts_settings, "test-read", "read"),
    }


@pytest.fixture(scope="session")
def app(marts_settings):
    app = _make_app(marts_settings)
    yield app
    app.extensions["qbr_pool"].close()


@pytest.fixture
def api(app) -> SpecClient:
    """Unauthenticated validating client over the shared (read-mostly) database."""
    return SpecClient(app)


@pytest.fixture
def reader(api, keys) -> SpecClient:
    return api.with_headers(**{"X-API-Key": keys["read"]})


@pytest.fixture
def admin(api, keys) -> SpecClient:
    return api.with_headers(**{"X-API-Key": keys["admin"]})


@pytest.fixture(scope="session")
def make_api(marts_db) -> Callable:
    """Factory for write tests: (admin client, read client, settings) over a fresh database."""
    apps = []

    def factory(**config):
        settings = marts_db("qbr_apiw")
        app = _make_app(settings, **config)
        apps.append(app)
        admin_key = apikeys.create(settings, "writer", "admin")
        read_key = apikeys.create(settings, "looker", "read")
        base = SpecClient(app)
        return (
            base.with_headers(**{"X-API-Key": admin_key}),
            base.with_headers(**{"X-API-Key": read_key}),
            settings,
        )

    yield factory
    for app in apps:
        app.extensions["qbr_pool"].close()
