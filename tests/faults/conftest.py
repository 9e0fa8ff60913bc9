"""Fault tests: things that must survive kills, restarts and bad input.

`private_cluster` is an embedded PostgreSQL of this test session's own (not
the shared test cluster of tests/conftest.py), so a test may stop and restart
it without disturbing any other test.
"""

from __future__ import annotations

import secrets
import shutil
import socket
from collections.abc import Iterator

import pytest

from qbr import db, embedded
from qbr.settings import PROJECT_ROOT, Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def private_cluster() -> Iterator[Settings]:
    """A cluster started for this session only (own home, own port); removed after."""
    home = PROJECT_ROOT / ".qbr" / "test" / f"private_{secrets.token_hex(3)}"
    settings = Settings(_env_file=None, home=home, pg_port=free_port(), db_name="qbr_faults")
    db.ensure_server(settings)
    try:
        yield settings
    finally:
        embedded.stop(settings)
        shutil.rmtree(home, ignore_errors=True)
