"""The API's own connection pool (psycopg_pool), one per app, one connection per request.

A request takes a connection the first time it needs one (authentication
usually) and gives it back at teardown, so auth, the ETag check and the
query share one connection. Connections are in autocommit: reads need no
transaction and writes open one explicitly (`with conn.transaction()`).

Every checkout is checked first (`check_idle`): a connection the server
closed (a restart, `qbr db stop; qbr db start`, an idle timeout, a
terminated backend) is discarded and replaced instead of failing the request
with 503. The check costs no round trip: an idle connection in autocommit has
nothing to read, so its socket is polled (timeout 0); when the server has
said anything since (its farewell message, or end-of-file when it went away),
the full check (`ConnectionPool.check_connection`, an empty query) decides.
"""

from __future__ import annotations

import select
from decimal import Decimal
from typing import Any

import psycopg
from flask import current_app, g
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

EXTENSION_KEY = "qbr_pool"
#: Seconds a request waits for a free connection before answering 503.
CHECKOUT_TIMEOUT = 10.0


def check_idle(conn: psycopg.Connection) -> None:
    """The pool's checkout check (raises for a connection that cannot be used)."""
    if conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
        ConnectionPool.check_connection(conn)  # raises, as the pool expects
        return
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def init_pool(app, url: str, *, min_size: int = 2, max_size: int = 8) -> ConnectionPool:
    pool = ConnectionPool(
        url,
        min_size=min(min_size, max_size),
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row, "application_name": "qbr-api"},
        # a connection the server dropped (restart) is replaced, not handed out
        check=check_idle,
        open=True,
        name="qbr-api",
    )
    app.extensions[EXTENSION_KEY] = pool
    app.teardown_request(release)
    return pool


def get_pool() -> ConnectionPool:
    return current_app.extensions[EXTENSION_KEY]


def get_conn() -> psycopg.Connection:
    """The request's connection (taken from the pool on first use)."""
    conn = g.get("qbr_conn")
    if conn is None:
        conn = get_pool().getconn(timeout=CHECKOUT_TIMEOUT)
        g.qbr_conn = conn
    return conn


def release(_exc: BaseException | None = None) -> None:
    conn = g.pop("qbr_conn", None)
    if conn is not None:
        get_pool().putconn(conn)


def number(value: Any) -> float | int | None:
    """numeric -> JSON number (NaN and infinities become null: JSON has none)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return (
            int(value)
            if value == value.to_integral_value() and abs(value) < 2**53
            else float(value)
        )
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()
