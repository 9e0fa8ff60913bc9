"""The two advisory locks that make a refresh single-flight.

The running refresh holds RUN_LOCK (session level) on a dedicated connection for
its whole duration. Creating, claiming and reconciling runs is serialised by
TRIGGER_LOCK (transaction level), so "is anything running? then insert mine" is
atomic. A run whose process died loses RUN_LOCK with its connection.
"""

from __future__ import annotations

import socket

import psutil
import psycopg

#: Advisory locks, two-key form: (namespace "QBR\0", which lock).
LOCK_NAMESPACE = 0x51425200
#: Session lock held by the one running refresh, on its own connection.
RUN_LOCK = 1
#: Transaction lock serialising create / claim / reconcile of runs.
TRIGGER_LOCK = 2


def take_trigger_lock(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, TRIGGER_LOCK))


def run_lock_held(conn: psycopg.Connection, mine: bool = False) -> bool:
    """Whether some session (or, with `mine`, this one) holds the run lock in this database."""
    query = (
        "select exists (select from pg_locks where locktype = 'advisory' and granted "
        "and database = (select oid from pg_database where datname = current_database()) "
        "and classid::bigint = %s and objid::bigint = %s and objsubid = 2"
        + (" and pid = pg_backend_pid()" if mine else "")
        + ")"
    )
    return bool(conn.execute(query, (LOCK_NAMESPACE, RUN_LOCK)).fetchone()[0])


def pid_alive(pid: int | None, host: str | None) -> bool | None:
    """True/False for a process on this host; None when it cannot be told (other host, no pid)."""
    if not pid or (host and host != socket.gethostname()):
        return None
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
