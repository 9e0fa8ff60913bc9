"""Test-session database: a separate embedded cluster, throwaway databases.

Tests never touch the demo's data: the session starts its own embedded
PostgreSQL under `.qbr/test/` on a free port, creates uniquely named
databases in it, and drops them (and stops the server) at the end. With
QBR_TEST_DATABASE_URL set, throwaway databases are created on that server.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbr import db, embedded, migrate
from qbr.settings import PROJECT_ROOT, Settings

TEST_HOME = PROJECT_ROOT / ".qbr" / "test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_settings() -> Settings:
    external = os.environ.get("QBR_TEST_DATABASE_URL")
    if external:
        return Settings(_env_file=None, database_url=external, home=TEST_HOME)
    TEST_HOME.mkdir(parents=True, exist_ok=True)
    probe = Settings(_env_file=None, home=TEST_HOME, pg_port=_free_port())
    st = embedded.status(probe)
    port = st.port if st.running and st.port else probe.pg_port
    return Settings(_env_file=None, home=TEST_HOME, pg_port=port)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Settings]:
    """The test cluster: started for the session and stopped after it, unless
    another pytest session (a parallel run) had started it — then it is left
    for that session to stop."""
    base = _base_settings()
    started_here = base.embedded and not embedded.status(base).running
    db.ensure_server(base)
    yield base
    if started_here:
        embedded.stop(base)


@pytest.fixture(scope="session")
def make_database(pg_server: Settings):
    """Factory: a new migrated throwaway database; returns its Settings."""
    created: list[Settings] = []

    def factory(prefix: str = "qbr_test", migrated: bool = True) -> Settings:
        name = f"{prefix}_{secrets.token_hex(4)}"
        settings = pg_server.model_copy(update={"db_name": name})
        if settings.database_url:
            settings = settings.model_copy(update={"database_url": settings.url_for(name)})
        db.ensure_database(settings, name)
        if migrated:
            migrate.upgrade(settings)
        created.append(settings)
        return settings

    yield factory
    for settings in created:
        db.drop_database(pg_server, str(settings.db_parts()["dbname"]))


@pytest.fixture(scope="session")
def settings(make_database) -> Settings:
    """The session's shared, migrated throwaway database."""
    return make_database()


@pytest.fixture(scope="session")
def db_url(settings: Settings) -> str:
    return settings.url


@pytest.fixture(scope="session")
def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that points a subprocess (qbr, dbt, dlt) at the session database."""
    env = dict(os.environ)
    env.update(
        {
            "QBR_ENV_FILE": os.devnull,
            "QBR_HOME": str(settings.home),
            "QBR_PG_PORT": str(settings.pg_port),
            "QBR_DB_NAME": str(settings.db_parts()["dbname"]),
        }
    )
    if settings.database_url:
        env["QBR_DATABASE_URL"] = settings.database_url
    return env


@pytest.fixture
def tmp_home(tmp_path: Path) -> Path:
    return tmp_path
