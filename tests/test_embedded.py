"""The embedded server's lifecycle: start twice, stale pid file, port in use, stop."""

from __future__ import annotations

import socket
import subprocess
import sys

import psutil
import pytest

from qbr import db, embedded
from qbr.errors import QbrError
from qbr.settings import Settings
from tests.conftest import _free_port


@pytest.fixture
def own_cluster(tmp_path) -> Settings:
    s = Settings(_env_file=None, home=tmp_path / "home", pg_port=_free_port())
    yield s
    embedded.stop(s)


def test_start_twice_is_harmless_and_stop_leaves_no_process(own_cluster):
    first = embedded.start(own_cluster)
    second = embedded.start(own_cluster)
    assert first.running and second.running
    assert first.pid == second.pid
    assert first.port == own_cluster.pg_port
    with db.connect(own_cluster, "postgres") as conn:
        assert conn.execute("select current_setting('port')").fetchone()[0] == str(
            own_cluster.pg_port
        )
        # listening on loopback TCP, not only a socket
        assert conn.execute("select inet_server_addr()::text").fetchone()[0] == "127.0.0.1/32"
    pid = first.pid
    after = embedded.stop(own_cluster)
    assert not after.running
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_stale_pid_file_after_crash_is_recovered(own_cluster):
    st = embedded.start(own_cluster)
    psutil.Process(st.pid).kill()  # a crash: the pid file stays behind
    psutil.Process(st.pid).wait(10)
    assert (own_cluster.pgdata / "postmaster.pid").exists()
    assert embedded.status(own_cluster).detail == "stopped (stale pid file)"
    again = embedded.start(own_cluster)
    assert again.running and again.pid != st.pid
    with db.connect(own_cluster, "postgres") as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_port_in_use_names_the_port_and_the_setting(own_cluster):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", own_cluster.pg_port))
        blocker.listen()
        with pytest.raises(QbrError) as err:
            embedded.start(own_cluster)
    message = str(err.value)
    assert str(own_cluster.pg_port) in message
    assert "QBR_PG_PORT" in message


def test_unwritable_home_is_one_clear_message(tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    s = Settings(_env_file=None, home=blocked / "home", pg_port=_free_port())
    with pytest.raises(QbrError) as err:
        embedded.start(s)
    assert "QBR_HOME" in str(err.value)


def test_unreachable_external_url_is_one_line_without_traceback(tmp_path):
    port = _free_port()  # nothing listens there
    env = {
        "QBR_ENV_FILE": "/dev/null",
        "QBR_DATABASE_URL": f"postgresql://nobody:pw@127.0.0.1:{port}/nowhere",
        "PATH": "/usr/bin:/bin",
    }
    res = subprocess.run(
        [sys.executable, "-m", "qbr.app.cli", "db", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "QBR_DATABASE_URL" in res.stderr
    assert "***" in res.stderr and ":pw@" not in res.stderr  # password redacted
