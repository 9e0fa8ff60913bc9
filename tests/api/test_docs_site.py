"""The dbt docs site behind the API's auth at /api/qbr/docs/."""

from __future__ import annotations


def test_docs_served_with_a_key_only(app, keys, tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text("<html>lineage</html>")
    (tmp_path / "manifest.json").write_text('{"nodes": {}}')
    (tmp_path / "secret.txt").write_text("not part of the site")
    monkeypatch.setitem(app.config, "DOCS_DIR", str(tmp_path))
    client = app.test_client()
    key = {"X-API-Key": keys["read"]}

    assert client.get("/api/qbr/docs/").status_code == 401
    page = client.get("/api/qbr/docs/", headers=key)
    assert page.status_code == 200 and page.data == b"<html>lineage</html>"
    assert client.get("/api/qbr/docs/manifest.json", headers=key).get_json() == {"nodes": {}}
    # only the site's own files, never anything else in the folder
    other = client.get("/api/qbr/docs/secret.txt", headers=key)
    assert other.status_code == 404 and other.get_json()["error_code"] == "NOT_FOUND"


def test_docs_not_built_is_a_clear_404(app, keys, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "DOCS_DIR", str(tmp_path / "empty"))
    resp = app.test_client().get("/api/qbr/docs/", headers={"X-API-Key": keys["read"]})
    assert resp.status_code == 404
    body = resp.get_json()
    assert body["error_code"] == "DOCS_NOT_BUILT" and "make docs" in body["error"]
