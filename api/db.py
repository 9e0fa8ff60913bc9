"""The API's own connection pool (psycopg_pool), one per app."""

from __future__ import annotations

from flask import current_app
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

EXTENSION_KEY = "qbr_pool"


def init_pool(app, url: str, *, min_size: int = 1, max_size: int = 8) -> ConnectionPool:
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=True,
        name="qbr-api",
    )
    app.extensions[EXTENSION_KEY] = pool
    return pool


def get_pool() -> ConnectionPool:
    return current_app.extensions[EXTENSION_KEY]


def get_conn():
    return get_pool().connection()
