"""The QBR blueprint mounts into an existing Flask app without touching the host's routes."""

from __future__ import annotations

from flask import Flask, jsonify

from api import init_qbr, qbr_blueprint

API = "/api/qbr"


def _host_app(marts_settings) -> Flask:
    host = Flask("existing_dashboard")

    @host.get("/")
    def home():
        return "<h1>existing dashboard</h1>"

    @host.get("/api/devices")
    def devices():
        return jsonify([{"name": "pc-1", "value": 1, "source": "ninja"}])

    @host.post("/api/notes")
    def notes():
        return jsonify({"ok": True}), 201

    init_qbr(host, settings=marts_settings, min_size=1, max_size=2)
    host.register_blueprint(qbr_blueprint)
    return host


def test_mounted_blueprint_leaves_host_routes_alone(marts_settings, keys, world):
    host = _host_app(marts_settings)
    client = host.test_client()
    try:
        # the host's own routes: open, unchanged, and their errors stay the host's (HTML)
        assert client.get("/").data == b"<h1>existing dashboard</h1>"
        assert client.get("/api/devices").get_json()[0]["name"] == "pc-1"
        assert client.post("/api/notes", data="x", content_type="text/plain").status_code == 201
        missing = client.get("/no-such-page")
        assert missing.status_code == 404 and missing.mimetype == "text/html"
        # QBR routes: protected, JSON errors
        r = client.get(f"{API}/smartnumbers")
        assert r.status_code == 401 and r.get_json()["error_code"] == "UNAUTHORIZED"
        ok = client.get(f"{API}/smartnumbers", headers={"X-API-Key": keys["read"]})
        assert ok.status_code == 200 and ok.get_json()["period"] == world.quarter
        assert client.get(f"{API}/health").status_code == 200
        assert client.get(f"{API}/nothing", headers={"X-API-Key": keys["read"]}).mimetype == (
            "application/json"
        )
        # the spec lists QBR routes only
        doc = client.get(f"{API}/openapi.json", headers={"X-API-Key": keys["read"]}).get_json()
        assert all(p.startswith(API) for p in doc["paths"])
    finally:
        host.extensions["qbr_pool"].close()


def test_blueprint_without_init_is_a_clear_error():
    host = Flask("forgot_init")
    host.register_blueprint(qbr_blueprint)
    r = host.test_client().get(f"{API}/health")
    assert r.status_code == 500
    assert r.get_json()["error_code"] == "NOT_INITIALISED"


def test_dashboard_mounts_next_to_the_api_under_a_prefix(marts_settings, keys):
    """The dashboard blueprint under /qbr in a host app: sign-in page, cookie session, assets."""
    import gzip

    import psycopg

    from dashboard import dashboard_blueprint
    from dashboard.blueprint import STATIC_DIR

    host = _host_app(marts_settings)
    host.register_blueprint(dashboard_blueprint, url_prefix="/qbr")
    client = host.test_client()
    with psycopg.connect(marts_settings.url) as conn:
        org = conn.execute("select name from qbr_app.organization where id = 1").fetchone()[0]
    try:
        assert client.get("/").data == b"<h1>existing dashboard</h1>"  # the host's root untouched
        r = client.get("/qbr/")
        assert r.status_code == 302 and r.headers["Location"].startswith("/qbr/signin?next=/qbr/")
        page = client.get("/qbr/signin")
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert org in html and 'data-api="/api/qbr"' in html and 'type="password"' in html
        assert "oidc-signin" not in html  # no single sign-on unless configured
        for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
            target = client.get("/qbr/signin", query_string={"next": evil}).get_data(as_text=True)
            assert 'data-next="/qbr/"' in target, evil  # no open redirect after sign-in
        host.config.update(QBR_OIDC_ENABLED=True, QBR_OIDC_LABEL="Sign in with Microsoft")
        sso = client.get("/qbr/signin").get_data(as_text=True)
        assert 'href="/api/qbr/session/oidc/login"' in sso and "Sign in with Microsoft" in sso
        host.config["QBR_OIDC_ENABLED"] = False
        # sign in through the API; the cookie (Path=/) opens the dashboard's pages
        signed = client.post(f"{API}/session", headers={"X-API-Key": keys["read"]})
        assert signed.status_code == 201
        shell = client.get("/qbr/mbr")
        assert shell.status_code == 200
        text = shell.get_data(as_text=True)
        assert '"api": "/api/qbr"' in text and '"root": "/qbr/"' in text
        assert '"admin": false' in text  # a read key: no write controls
        # assets: gzip when asked, byte-identical once unpacked
        asset = client.get("/qbr/assets/dashboard.js", headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200 and asset.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(asset.data) == (STATIC_DIR / "dashboard.js").read_bytes()
        assert client.get("/qbr/assets/../blueprint.py").status_code == 404
        # signed out (session deleted): back to sign-in, with the expiry message
        client.delete(f"{API}/session", headers={"X-CSRF-Token": signed.get_json()["csrf_token"]})
        client.set_cookie("qbr_session", "stale-token", path="/")
        again = client.get("/qbr/trends")
        assert again.status_code == 302 and "expired=1" in again.headers["Location"]
    finally:
        host.extensions["qbr_pool"].close()
