"""One place for configuration: environment variables, then an optional `.env`.

dbt's profile, dlt's destination and the API's connection pool are all derived
from `Settings.database_url`, so the database is configured exactly once.
With no `QBR_DATABASE_URL` the project runs its own embedded PostgreSQL.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qbr import embedded, periods
from qbr.errors import QbrError
from qbr.oidc_allow import parse_allow

#: The repository root (where pyproject.toml, dbt_project/ and .qbr/ live).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The staleness limit of a source's last good load when QBR_STALE_AFTER_HOURS names none:
#: the one default /health, `qbr status` and dbt's data_quality_flags (via the refresh's
#: QBR_SOURCE_STALE_HOURS, qbr.dbt_runner) all read.
DEFAULT_STALE_AFTER_HOURS = 26.0
#: A full id sweep for deletions at least every this many days (QBR_DELETION_SWEEP_DAYS);
#: between sweeps the source's count decides whether one is needed.
DEFAULT_DELETION_SWEEP_DAYS = 7.0


def parse_stale_limits(text: str | float | int | None) -> tuple[float, dict[str, float]]:
    """`"26,quickbooks=50"` -> (26.0, {"quickbooks": 50.0}); QbrError when malformed."""
    default, per_source = DEFAULT_STALE_AFTER_HOURS, {}
    if text is None or str(text).strip() == "":
        return default, per_source
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, hours = part.rpartition("=")
        try:
            value = float(hours)
        except ValueError:
            value = -1.0
        if value <= 0 or (sep and not name.strip()):
            raise QbrError(
                f"QBR_STALE_AFTER_HOURS: {part!r} is not HOURS or SOURCE=HOURS with HOURS > 0 "
                "(e.g. 26,quickbooks=50)."
            )
        if sep:
            per_source[name.strip().lower()] = value
        else:
            default = value
    return default, per_source


class Settings(BaseSettings):
    """Every setting, with the environment variable that sets it (prefix QBR_)."""

    model_config = SettingsConfigDict(
        env_prefix="QBR_",
        env_file=os.environ.get("QBR_ENV_FILE", str(PROJECT_ROOT / ".env")),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- database -----------------------------------------------------------
    database_url: str | None = Field(
        default=None, description="External PostgreSQL URL; unset = embedded server"
    )
    home: Path = Field(default=PROJECT_ROOT / ".qbr", description="Runtime data directory")
    pg_port: int = Field(default=54329, description="Port of the embedded PostgreSQL")
    db_name: str = Field(default="qbr", description="Database name on the embedded server")

    # --- business -----------------------------------------------------------
    org_name: str = Field(default="Enersystems, LLC", description="Organization name (row id 1)")
    timezone: str = Field(default="America/Chicago", description="Reporting time zone")
    history_start: str = Field(default="2024-01", description="First month of history")
    inventory_schema: str = Field(default="inventory", description="Schema of inventory tables")

    # --- processes ----------------------------------------------------------
    api_host: str = Field(default="127.0.0.1")
    api_port: int = Field(default=8750)
    docs_port: int = Field(default=8080, description="Port of `qbr docs --serve` / make docs")
    sandbox_host: str = Field(default="127.0.0.1")
    sandbox_port: int = Field(default=8760, description="Sandbox ports: this, +1, +2")
    sandbox_preset: str = Field(default="demo")
    sandbox_seed: int = Field(default=42)

    # --- sources ------------------------------------------------------------
    sources: str = Field(
        default="", description="Comma list of sources; empty = those configured, else sandbox"
    )
    stale_after_hours: str = Field(
        default=f"{DEFAULT_STALE_AFTER_HOURS:g}",
        description="Staleness limit of a source's last good load, in hours: a default and "
        "optional per-source overrides, e.g. `26,quickbooks=50` (health degrades past it)",
    )

    # --- OpenID Connect sign-in for the dashboard (optional; api/oidc.py) ------
    oidc_issuer: str | None = Field(
        default=None,
        description="Issuer URL, e.g. https://login.microsoftonline.com/<tenant>/v2.0; "
        "unset = no OIDC sign-in",
    )
    oidc_client_id: str | None = Field(default=None, description="The app's client id")
    oidc_client_secret: str | None = Field(default=None, description="The app's client secret")
    oidc_allow: str = Field(
        default="",
        description="Who may sign in and with which scope: emails or @domains, each "
        "=read or =admin, comma-separated (e.g. boss@msp.com=admin,@msp.com=read)",
    )
    oidc_label: str = Field(
        default="Sign in with single sign-on", description="The dashboard's sign-in button"
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description="The callback URL registered at the issuer (default: derived from the "
        "request, .../api/qbr/session/oidc/callback)",
    )

    @field_validator("oidc_allow", mode="before")
    @classmethod
    def _check_allow(cls, value):
        value = "" if value is None else str(value)
        parse_allow(value)  # ValueError with the bad entry
        return value

    @field_validator("history_start", mode="before")
    @classmethod
    def _check_history_start(cls, value):
        return periods.parse_month(str(value), "QBR_HISTORY_START")  # ValueError when not YYYY-MM

    @field_validator("stale_after_hours", mode="before")
    @classmethod
    def _check_stale(cls, value):
        value = "" if value is None else str(value)
        try:
            parse_stale_limits(value)
        except Exception as exc:
            raise ValueError(str(exc)) from None
        return value

    deletion_sweep_days: float = Field(
        default=DEFAULT_DELETION_SWEEP_DAYS,
        gt=0,
        description="A full id sweep for deletions at least every this many days",
    )

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def embedded(self) -> bool:
        return not self.database_url

    def url_for(self, database: str | None = None) -> str:
        """The connection URL, optionally for another database on the same server."""
        if self.database_url:
            url = self.database_url
            if database is None:
                return url
            parts = urlsplit(url)
            return parts._replace(path="/" + database).geturl()
        password = embedded.read_password(self)
        return (
            f"postgresql://{embedded.SUPERUSER}:{quote(password, safe='')}"
            f"@127.0.0.1:{self.pg_port}/{database or self.db_name}"
        )

    @property
    def url(self) -> str:
        return self.url_for()

    def db_parts(self, database: str | None = None) -> dict[str, str | int]:
        """host/port/user/password/dbname: the shape dbt's profile wants."""
        parts = urlsplit(self.url_for(database))
        from urllib.parse import unquote

        return {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "dbname": (parts.path or "/").lstrip("/") or "postgres",
        }

    def tool_env(self, database: str | None = None) -> dict[str, str]:
        """Environment for dbt and dlt subprocesses, derived from this one URL."""
        p = self.db_parts(database)
        return {
            "QBR_PG_HOST": str(p["host"]),
            "QBR_PG_PORT_RESOLVED": str(p["port"]),
            "QBR_PG_USER": str(p["user"]),
            "QBR_PG_PASSWORD": str(p["password"]),
            "QBR_PG_DBNAME": str(p["dbname"]),
            "QBR_TIMEZONE": self.timezone,
            "QBR_HISTORY_START": self.history_start,
            "QBR_INVENTORY_SCHEMA": self.inventory_schema,
            "DESTINATION__POSTGRES__CREDENTIALS": self.url_for(database),
            # Telemetry off unless the operator turns it on explicitly.
            "DO_NOT_TRACK": os.environ.get("DO_NOT_TRACK", "1"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": os.environ.get(
                "DBT_SEND_ANONYMOUS_USAGE_STATS", "false"
            ),
            "RUNTIME__DLTHUB_TELEMETRY": os.environ.get("RUNTIME__DLTHUB_TELEMETRY", "false"),
        }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
