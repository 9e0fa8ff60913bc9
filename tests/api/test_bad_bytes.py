"""Bad bytes are bad requests (issue 13 item 6).

A NUL byte anywhere in a path, a query parameter or a JSON string is a 400 in
the error shape on every route (PostgreSQL text cannot hold NUL: before, six
routes passed it to the database and answered 500). A chunked body over the
limit is a 413, and a refused write (403) leaves a row in the audit log.

The walk is driven by the app's own URL map and operation declarations, so a
route added later is covered without editing this file.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

import psycopg
import pytest
import requests
from werkzeug.serving import make_server

from api.spec import DEFAULT_MAX_BODY

API = "/api/qbr"

#: a valid body per request component, every string of which the walk poisons in turn
BODIES = {
    "ThresholdWrite": {
        "metric": "rhem",
        "direction": "higher_is_better",
        "green_min": 1,
        "notes": "n",
    },
    "ThresholdPut": {"direction": "higher_is_better", "green_min": 1, "notes": "n"},
    "ManualMetricsRequest": {
        "period": "2025-01",
        "metrics": [{"metric": "employees", "value": 1, "notes": "n"}],
    },
    "RefreshRequest": {"sources": ["connectwise"], "since": "2025-01"},
    "KeyCreate": {"name": "nul-probe", "scope": "read"},
}
#: realistic values for path and query parameters (poisoned one at a time)
VALUES = {
    "period": "2025-01",
    "from": "2025-01",
    "to": "2025-03",
    "metric": "rhem",
    "source": "connectwise",
    "client": "1",
    "client_id": "1",
    "batch_id": "bc_01JD0000000000000000000000",
    "name": "index.html",
    "type": "monthly",
    "format": "csv",
    "view": "mbr",
    "status": "failed",
    "key_id": "1",
}


def _operations(app):
    """(method, rule, operation) for every declared QBR operation."""
    for rule in app.url_map.iter_rules():
        op = getattr(app.view_functions.get(rule.endpoint), "qbr_operation", None)
        if op is None or not rule.rule.startswith(API):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, rule, op


def _string_paths(value, path=()):
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _string_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _string_paths(v, (*path, i))


def _poisoned(value, path):
    copy = json.loads(json.dumps(value))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = "a\x00b"
    return copy


def _url(rule, path_values: dict[str, str], query: dict[str, str]) -> str:
    url = rule.rule
    for name in rule.arguments:
        url = url.replace(f"<{name}>", quote(path_values[name], safe=""))
    if query:
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return url


def _assert_nul_400(resp, where: str) -> None:
    assert resp.status_code == 400, f"{where}: {resp.status_code} {resp.data[:200]!r}"
    body = resp.get_json()
    assert body["code"] == 400 and body["error_code"] == "NUL_BYTE", where
    assert "NUL" in body["error"], where


def test_a_nul_byte_anywhere_is_a_400_on_every_route(admin, app):
    checked = 0
    for method, rule, op in _operations(app):
        path_values = {name: VALUES.get(name, "x") for name in rule.arguments}
        query = {p["name"]: VALUES.get(p["name"], "x") for p in op.params if p["in"] == "query"}
        body = BODIES.get(op.body.__name__) if op.body else None
        if op.body:
            assert body is not None, f"no example body for {op.body.__name__}: add one to BODIES"
        cases = []
        for name in rule.arguments:
            cases.append((f"path {name}", {**path_values, name: "a\x00b"}, query, body))
        for name in query:
            cases.append((f"query {name}", path_values, {**query, name: "a\x00b"}, body))
        for where in _string_paths(body) if body else ():
            cases.append((f"body {where}", path_values, query, _poisoned(body, where)))
        if body:  # a NUL in an object key too
            cases.append(("body key", path_values, query, {**body, "a\x00": 1}))
        for label, pv, q, b in cases:
            kwargs = {"json": b} if b is not None else {}
            resp = admin.open(method, _url(rule, pv, q), **kwargs)
            _assert_nul_400(resp, f"{method} {rule.rule} {label}")
            checked += 1
    assert checked >= 40  # every route with an input was walked


def test_a_nul_byte_in_an_unknown_path_or_undeclared_parameter(reader):
    raw = reader.client  # an unknown path has no operation to check against
    _assert_nul_400(raw.get(f"{API}/no%00where", headers=reader.headers), "unknown path")
    _assert_nul_400(reader.get(f"{API}/periods?extra=%00"), "undeclared parameter")
    _assert_nul_400(reader.get(f"{API}/periods?ex%00tra=1"), "parameter name")


def test_a_nul_byte_needs_no_key_to_be_refused(api):
    _assert_nul_400(api.get(f"{API}/health?x=%00"), "public route")


def test_an_escaped_nul_in_json_is_refused_and_nothing_is_written(make_api):
    admin, _, settings = make_api()
    count = "select count(*) from qbr_app.manual_metrics"
    with psycopg.connect(settings.url) as conn:
        before = conn.execute(count).fetchone()[0]
    raw = b'{"period": "2025-01", "metrics": [{"metric": "employees", "value": 3, "notes": "a\\u0000"}]}'
    resp = admin.post(f"{API}/metrics/manual", data=raw, content_type="application/json")
    _assert_nul_400(resp, "escaped NUL")
    with psycopg.connect(settings.url) as conn:
        assert conn.execute(count).fetchone()[0] == before


@pytest.fixture(scope="module")
def served(app):
    """The app behind a real HTTP server (werkzeug's), so chunked framing is real."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join(5)


def _chunked(base: str, key: str, path: str, payload: bytes):
    def chunks():  # a generator body: requests sends it chunked, without Content-Length
        for i in range(0, len(payload), 8192):
            yield payload[i : i + 8192]

    return requests.post(
        base + path,
        data=chunks(),
        headers={"Content-Type": "application/json", "X-API-Key": key},
        timeout=30,
    )


def test_a_chunked_body_over_the_limit_is_413(served, keys):
    notes = "x" * (DEFAULT_MAX_BODY + 1024)
    payload = json.dumps(
        {"period": "2025-01", "metrics": [{"metric": "employees", "value": 1, "notes": notes}]}
    ).encode()
    resp = _chunked(served, keys["admin"], f"{API}/metrics/manual", payload)
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in resp.request.headers
    assert resp.status_code == 413, resp.text[:200]
    assert resp.json()["error_code"] == "PAYLOAD_TOO_LARGE"


def test_a_chunked_body_within_the_limit_is_read(served, keys):
    payload = json.dumps({"metric": "rhem", "direction": "sideways"}).encode()
    resp = _chunked(served, keys["admin"], f"{API}/thresholds", payload)
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    # read and validated (not refused for its framing): the enum is what is wrong
    assert resp.status_code == 400, resp.text[:200]
    assert resp.json()["error_code"] == "VALIDATION_ERROR"


def test_refused_writes_are_audited(make_api):
    admin, reader, settings = make_api()
    resp = reader.post(f"{API}/thresholds", json=BODIES["ThresholdWrite"])
    assert resp.status_code == 403
    # a session without its CSRF header is refused too, and audited
    created = admin.post(f"{API}/session")
    assert created.status_code == 201
    resp = admin.client.post(
        f"{API}/thresholds", json=BODIES["ThresholdWrite"]
    )  # cookie only, no key, no CSRF header
    assert resp.status_code == 403 and resp.get_json()["error_code"] == "CSRF_FAILED"
    with psycopg.connect(settings.url) as conn:
        rows = conn.execute(
            "select actor, action, target, details from qbr_app.audit_log "
            "where action = 'request.refused' order by id"
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("looker", "request.refused", f"POST {API}/thresholds"),
        ("writer", "request.refused", f"POST {API}/thresholds"),
    ]
    assert rows[0][3]["error_code"] == "FORBIDDEN" and rows[0][3]["via"] == "key"
    assert rows[1][3]["error_code"] == "CSRF_FAILED" and rows[1][3]["via"] == "session"
