"""The dbt docs site (lineage, column docs, metric formulas) served by the API.

`make docs` / `qbr docs` builds it into dbt_project/target; here it is served
as static files under /api/qbr/docs/ behind the same key or session cookie as
every other QBR route (the site shows model SQL, which is nobody's business
outside the MSP). dbt's index.html is self-contained: no CDN is involved.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, redirect, request, send_from_directory

from api.errors import ApiError

bp = Blueprint("docs", __name__)

#: the only files of the site there are to serve
SITE_FILES = {"index.html", "manifest.json", "catalog.json"}


def docs_dir() -> Path:
    configured = current_app.config.get("DOCS_DIR")
    if configured:
        return Path(configured)
    from qbr.dbt_runner import DBT_PROJECT_DIR

    return DBT_PROJECT_DIR / "target"


@bp.get("/docs")
def docs_root():
    return redirect(request.path + "/", code=308)


@bp.get("/docs/")
def docs_index():
    return docs_file("index.html")


@bp.get("/docs/<path:name>")
def docs_file(name: str):
    if name not in SITE_FILES:
        raise ApiError(404, "NOT_FOUND", f"No docs file {name!r}.")
    folder = docs_dir()
    if not (folder / name).is_file():
        raise ApiError(
            404, "DOCS_NOT_BUILT", "The docs site has not been built yet: run `make docs`."
        )
    return send_from_directory(folder, name, max_age=60)
