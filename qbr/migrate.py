"""Alembic migrations of the `qbr_app` schema, driven from the one settings module."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from qbr.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """Alembic goes through SQLAlchemy; use the psycopg (v3) driver we already ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def alembic_config(settings: Settings, database: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = sqlalchemy_url(settings.url_for(database))
    cfg.attributes["org_name"] = settings.org_name
    return cfg


def upgrade(settings: Settings, database: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings, database), revision)


def current(settings: Settings, database: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(sqlalchemy_url(settings.url_for(database)))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table_schema": "qbr_app"})
            return ctx.get_current_revision()
    finally:
        engine.dispose()
