"""Test-session database: a separate embedded cluster, throwaway databases.

Tests never touch the demo's data: the session starts its own embedded
PostgreSQL under `.qbr/test/` on a free port, creates uniquely named
databases in it, and drops them (and stops the server) at the end. With
QBR_TEST_DATABASE_URL set, throwaway databases are created on that server.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from qbr import db, embedded, migrate
from qbr.settings import PROJECT_ROOT, Settings

# A suite started in the background (`make test &` from a script) inherits SIGINT
# ignored, and every child it starts would too: the tests that stop `qbr serve` and
# `qbr demo` with Ctrl-C would then wait forever. Restore it, as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
    """Factory: a new migrated throwaway database (or a copy of `template`); returns its
    Settings."""
    created: list[Settings] = []

    def factory(
        prefix: str = "qbr_test", migrated: bool = True, template: str | None = None
    ) -> Settings:
        name = f"{prefix}_{secrets.token_hex(4)}"
        settings = pg_server.model_copy(update={"db_name": name})
        if settings.database_url:
            settings = settings.model_copy(update={"database_url": settings.url_for(name)})
        if template:  # a copy of a built database (it must have no open connections)
            with db.connect(pg_server, "postgres", autocommit=True) as conn:
                conn.execute(
                    sql.SQL("create database {} template {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                )
        else:
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


# -- the real marts, built once per session ---------------------------------------------------

REAL_MARTS_PRESET, REAL_MARTS_SEED = "small", 42


@dataclass
class RealMarts:
    """A template database holding the real dbt build over the `small` sandbox MSP
    (every layer built; the landed raw and inventory rows emptied afterwards).

    `msp` is the sandbox MSP the pipelines read (its ground truth is
    `sandbox.ground_truth`), `today` the Chicago date the build ran on (the
    marts' periods follow `now()`). Clone it with `clone_real_marts`.
    """

    settings: Settings
    msp: Any
    today: date

    @property
    def name(self) -> str:
        return str(self.settings.db_parts()["dbname"])


@pytest.fixture(scope="session")
def real_marts(make_database, tmp_path_factory) -> Iterator[RealMarts]:
    """Sandbox (small preset, seed 42, today) -> dlt pipelines over HTTP -> `dbt build`,
    once per session, into a template database the API's role may read.

    Raw data lands the way tests/dbt lands it (its `Warehouse`: the pipelines'
    own code against the sandbox servers, the sandbox's inventory writer), so
    there is one way to build a real warehouse in the tests.
    """
    from zoneinfo import ZoneInfo

    from qbr.roles import grant_read
    from sandbox.msp import TIMEZONE, generate
    from sandbox.servers.runner import Sandbox
    from tests.dbt.conftest import FAST_HTTP, Warehouse

    settings = make_database("qbr_marts")
    target = tmp_path_factory.mktemp("real_marts_dbt")
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**FAST_HTTP, "DO_NOT_TRACK": "1"}.items():
            mp.setenv(key, value)
        msp = generate(REAL_MARTS_PRESET, seed=REAL_MARTS_SEED, today=today)
        with Sandbox(msp) as sb:
            wh = Warehouse(settings, sb, target)
            wh.load()
            # models and seeds only: dbt's own tests are tests/dbt's business
            wh.build("--exclude-resource-type", "test", "unit_test")
    with db.connect(settings, autocommit=True) as conn:
        grant_read(conn, "qbr")
        # The marts are built; the landed rows (raw_*, their dlt staging copies,
        # inventory) are read by nothing the API serves, and emptying them makes
        # each copy a third of the size (a copy is written through the WAL).
        landed = conn.execute(
            "select format('%%I.%%I', schemaname, tablename) from pg_tables "
            "where (schemaname like 'raw\\_%%' or schemaname = %s) "
            "and tablename not like '\\_dlt\\_%%'",
            (settings.inventory_schema,),
        ).fetchall()
        conn.execute("truncate " + ", ".join(name for (name,) in landed))
    yield RealMarts(settings, msp, today)


@pytest.fixture(scope="session")
def clone_real_marts(real_marts: RealMarts, make_database) -> Callable[..., Settings]:
    """Factory: a new database copied from the real-marts template (CREATE DATABASE …
    TEMPLATE), so a test's writes never reach another test. `setup(conn)` runs
    in the copy before it is returned."""

    def factory(prefix: str = "qbr_marts_copy", setup: Callable | None = None) -> Settings:
        settings = make_database(prefix, migrated=False, template=real_marts.name)
        if setup is not None:
            with db.connect(settings) as conn:
                setup(conn)
                conn.commit()
        return settings

    return factory
