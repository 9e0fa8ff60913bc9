"""The API's least-privilege database role `qbr_api`.

Migration 0002 creates the role (NOLOGIN) and grants it, in each database,
read on the `qbr` marts and only the `qbr_app` privileges the API needs. At
start-up `api_database_url(settings)` makes it a login role: its password is
generated once and kept in `<QBR_HOME>/api_pg_password` (mode 0600), the way
`qbr.embedded` keeps the superuser's, and is sent to the server only as a
SCRAM-SHA-256 verifier (never in clear text, so never in a server log). The
API's pool then connects as `qbr_api`; a SQL injection or a bug in the API
could neither read the raw schemas, the inventory or the source credentials,
nor change the marts.

The refresh swaps the whole `qbr` schema (docs/contracts.md §3), which drops
every grant on it, so after each swap it calls `grant_read(conn)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from qbr.settings import Settings

log = logging.getLogger("qbr.api")

API_ROLE = "qbr_api"
PASSWORD_FILE = "api_pg_password"
SCRAM_ITERATIONS = 4096


def role_exists(conn: psycopg.Connection) -> bool:
    cur = conn.execute("select 1 from pg_roles where rolname = %s", (API_ROLE,))
    return cur.fetchone() is not None


def grant_read(conn: psycopg.Connection, schema: str = "qbr") -> None:
    """Let the API role read every table and view of `schema`.

    Call it after each swap of the marts schema, inside the swap's
    transaction if there is one (it commits nothing itself). Also sets default
    privileges, so a table the current user later creates in that schema (a
    plain `dbt build` outside the refresh) is readable too. A no-op when the
    role does not exist (a server where it could not be created).
    """
    if not role_exists(conn):
        return
    params = {"schema": sql.Identifier(schema), "role": sql.Identifier(API_ROLE)}
    for statement in (
        "grant usage on schema {schema} to {role}",
        "grant select on all tables in schema {schema} to {role}",
        "alter default privileges in schema {schema} grant select on tables to {role}",
    ):
        conn.execute(sql.SQL(statement).format(**params))


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677)."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def read_or_create_password(home: Path) -> str:
    """The role's password, created once (O_EXCL: concurrent workers agree on one)."""
    path = Path(home) / PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process is writing it right now
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty") from None
    password = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password


def _url(settings: Settings, password: str) -> str:
    p = settings.db_parts()
    return (
        f"postgresql://{API_ROLE}:{quote(password, safe='')}@{p['host']}:{p['port']}/"
        f"{quote(str(p['dbname']), safe='')}"
    )


def _can_connect(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


def api_database_url(settings: Settings) -> str:
    """The URL the API connects with: as `qbr_api` when the role exists, else `settings.url`.

    Enables login and sets the password (as a verifier) when the stored one
    does not work yet, connecting once as the configured (owner) user.
    """
    password = read_or_create_password(settings.home)
    url = _url(settings, password)
    if _can_connect(url):
        return url
    try:
        with psycopg.connect(settings.url, autocommit=True, connect_timeout=10) as conn:
            if not role_exists(conn):
                log.warning(
                    "role %s does not exist (the migrating user may not create roles): "
                    "the API connects as the configured user, without least privilege",
                    API_ROLE,
                )
                return settings.url
            # gunicorn's workers start together and each finds the login not enabled yet:
            # one at a time (two concurrent ALTER ROLEs fail with "tuple concurrently
            # updated"), and a later one finds the work done
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(hashtext('qbr.roles.api_login'))")
                if not _can_connect(url):
                    conn.execute(
                        sql.SQL("alter role {} with login password {}").format(
                            sql.Identifier(API_ROLE), sql.Literal(scram_verifier(password))
                        )
                    )
    except psycopg.Error as exc:
        log.warning("could not enable login for %s (%s)", API_ROLE, type(exc).__name__)
    return url
