"""The served web app (`gunicorn qbr.app.web:app`): the API plus the dashboard at /.

The API package no longer mounts the dashboard itself (api imports only the
core); the application layer composes the two. `api.create_app` alone serves
the API and nothing at /.
"""

from __future__ import annotations

from api import create_app as create_api_app
from qbr.app import web


def test_the_served_app_has_the_dashboard_and_the_api(settings):
    config = {"DATABASE_URL": settings.url, "QBR_SETTINGS": settings, "POOL_MIN_SIZE": 0}
    client = web.create_app(config).test_client()
    page = client.get("/signin")
    assert page.status_code == 200 and page.mimetype == "text/html"
    scorecard = client.get("/")  # no session yet: to the sign-in page
    assert scorecard.status_code == 302 and "/signin" in scorecard.headers["Location"]
    assert client.get("/api/qbr/openapi.json").get_json()["error_code"] == "UNAUTHORIZED"

    api_only = create_api_app(config).test_client()
    assert api_only.get("/").status_code == 404
    assert api_only.get("/api/qbr/openapi.json").get_json()["error_code"] == "UNAUTHORIZED"


def test_the_served_app_warms_its_caches_unless_told_not_to(settings, monkeypatch):
    """gunicorn serves qbr.app.web: its workers warm their caches after each refresh
    (api.warm), as the API alone (api.wsgi) does; QBR_WARM_CACHE=0 turns it off."""
    config = {"DATABASE_URL": settings.url, "QBR_SETTINGS": settings, "POOL_MIN_SIZE": 0}
    monkeypatch.delenv("QBR_WARM_CACHE", raising=False)
    served = web.build({**config, "QBR_WARM_INTERVAL": 3600})
    warmer = served.extensions.get("qbr_warmer")
    assert warmer is not None and warmer.daemon
    warmer.stop()
    warmer.join(30)  # its first look finishes inside the test, not after it
    assert not warmer.is_alive()
    monkeypatch.setenv("QBR_WARM_CACHE", "0")
    assert "qbr_warmer" not in web.build(config).extensions
