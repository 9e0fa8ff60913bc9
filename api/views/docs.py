"""The dbt docs site (lineage, column docs, metric formulas) served by the API.

`make docs` / `qbr docs` builds it into dbt_project/target; here it is served
as static files under /api/qbr/docs/ behind the same key or session cookie as
every other QBR route (the site shows model SQL, which is nobody's business
outside the MSP). dbt's index.html is self-contained: no CDN is involved.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory

from api import shapes as S
from api.errors import ApiError
from api.spec import operation

bp = Blueprint("docs", __name__)

#: the only files of the site there are to serve
SITE_FILES = {"index.html", "manifest.json", "catalog.json"}


def docs_dir() -> Path:
    configured = current_app.config.get("DOCS_DIR")
    if configured:
        return Path(configured)
    from qbr.dbt_runner import DBT_PROJECT_DIR

    return DBT_PROJECT_DIR / "target"


SITE_MEDIA = {
    "text/html": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object"}},
}


@bp.get("/docs/")
@operation(
    summary="The dbt docs site: lineage, column docs, metric formulas",
    tag="meta",
    response=None,
    errors=(404,),
    media={"text/html": SITE_MEDIA["text/html"]},
)
def docs_index():
    return _send("index.html")


@bp.get("/docs/<name>")
@operation(
    summary="A file of the dbt docs site (index.html, manifest.json, catalog.json)",
    tag="meta",
    response=None,
    params=[S.path("name", {"type": "string"}, "index.html, manifest.json or catalog.json")],
    errors=(404,),
    media=SITE_MEDIA,
)
def docs_file(name: str):
    return _send(name)


def _send(name: str):
    if name not in SITE_FILES:
        raise ApiError(404, "NOT_FOUND", f"No docs file {name!r}.")
    folder = docs_dir()
    if not (folder / name).is_file():
        raise ApiError(
            404, "DOCS_NOT_BUILT", "The docs site has not been built yet: run `make docs`."
        )
    return send_from_directory(folder, name, max_age=60)
