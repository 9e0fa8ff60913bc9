"""Alembic environment: the URL and organization name come from qbr.settings."""

from alembic import context
from sqlalchemy import create_engine, text

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.attributes["url"])
    with engine.begin() as connection:
        connection.execute(text("create schema if not exists qbr_app"))
        # Serialise concurrent migrators (demo + tests + refresh starting together).
        connection.execute(text("select pg_advisory_xact_lock(74211)"))
        context.configure(
            connection=connection,
            version_table_schema="qbr_app",
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations(org_name=config.attributes.get("org_name"))
    engine.dispose()


run_migrations_online()
