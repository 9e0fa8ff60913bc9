"""docs/contributing/add-an-endpoint.md, done once: its example module, taken from the
guide itself, mounted the documented way beside the real resources."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest
from flask import Flask

from api.blueprint import RESOURCES, build_blueprint, init_qbr
from qbr.settings import PROJECT_ROOT
from tests.api.conftest import SpecClient

GUIDE = PROJECT_ROOT / "docs" / "contributing" / "add-an-endpoint.md"
API = "/api/qbr"


@pytest.fixture(scope="module")
def example_module(tmp_path_factory):
    """The guide's first python block, written as api/views/client_count.py would be."""
    text = GUIDE.read_text()
    source = re.search(r"`api/views/client_count\.py`:\n\n```python\n(.*?)```", text, re.S)
    assert source, "the guide no longer shows the module"
    path = tmp_path_factory.mktemp("views") / "client_count.py"
    path.write_text(source.group(1))
    spec = importlib.util.spec_from_file_location("qbr_example_client_count", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def client(example_module, marts_settings, keys):
    app = Flask("example_host")
    init_qbr(app, settings=marts_settings, min_size=1)
    app.register_blueprint(build_blueprint((*RESOURCES, example_module)))  # step 2
    yield SpecClient(app).with_headers(**{"X-API-Key": keys["read"]})
    app.extensions["qbr_pool"].close()


def test_the_new_endpoint_is_in_the_document_with_its_shape(client):
    doc = client.get(f"{API}/openapi.json").get_json()
    op = doc["paths"][f"{API}/clients/count"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClientCount"
    }
    shape = doc["components"]["schemas"]["ClientCount"]
    assert shape["required"] == ["clients", "include_internal"]
    assert shape["additionalProperties"] is False
    assert [p["name"] for p in op["parameters"]] == ["include_internal"]
    assert {"400", "401", "304"} <= set(op["responses"])
    # the real resources are still there
    assert f"{API}/smartnumbers" in doc["paths"]


def test_the_new_endpoint_answers_with_its_declared_shape(client, world):
    # the sandbox MSP's companies (vendors are not clients), plus its internal one
    clients = len(world.clients())
    body = client.get(f"{API}/clients/count").get_json()
    assert body == {"clients": clients, "include_internal": False}
    everyone = client.get(f"{API}/clients/count?include_internal=true").get_json()
    assert everyone == {"clients": clients + 1, "include_internal": True}


def test_a_bad_request_is_a_json_400_and_no_key_a_401(client):
    bad = client.get(f"{API}/clients/count?include_internal=maybe")
    assert bad.status_code == 400
    assert bad.get_json()["error_code"] == "INVALID_PARAMETER"
    assert bad.get_json()["param"] == "include_internal"
    anonymous = client.with_headers(**{"X-API-Key": None}).get(f"{API}/clients/count")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error_code"] == "UNAUTHORIZED"
