"""Connecting to the warehouse database, wherever it lives.

`ensure_server()` starts the embedded server when no external URL is set;
`ensure_database()` creates the database on first use; `check_reachable()`
turns a connection failure into one sentence an operator can act on.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from qbr import embedded
from qbr.errors import QbrError
from qbr.settings import Settings


def ensure_server(settings: Settings) -> None:
    """Start the embedded PostgreSQL if this install uses it (harmless if running)."""
    if settings.embedded:
        embedded.start(settings)


def connect(settings: Settings, database: str | None = None, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(settings.url_for(database), connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        where = "QBR_DATABASE_URL" if not settings.embedded else "the embedded server"
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise QbrError(
            f"Cannot connect to the database via {where} "
            f"({_redacted(settings.url_for(database))}): {reason}"
        ) from None


def _redacted(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def ensure_database(settings: Settings, name: str | None = None) -> None:
    """Create the database if it does not exist (needs CREATEDB on external servers)."""
    name = name or settings.db_parts()["dbname"]
    with connect(settings, "postgres", autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(str(name))))


def drop_database(settings: Settings, name: str) -> None:
    with connect(settings, "postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def prepare(settings: Settings) -> None:
    """Everything a command needs before touching data: server, database, migrations."""
    from qbr import migrate

    ensure_server(settings)
    ensure_database(settings)
    migrate.upgrade(settings)
