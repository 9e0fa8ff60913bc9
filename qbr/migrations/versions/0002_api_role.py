"""The API's least-privilege database role, dashboard sessions, the threshold rule.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

- Role `qbr_api` (cluster-wide, created once; LOGIN and its password are set at
  API start-up by `qbr.roles.ensure_login`, so no secret lives in a migration).
  In this database it may read the `qbr` marts and only the `qbr_app` tables
  the API needs: it cannot read the raw schemas, the inventory, the source
  credentials, nor write the marts. The refresh re-grants `qbr` after each
  schema swap through `qbr.roles.grant_read`.
- `qbr_app.api_sessions`: dashboard sessions (a random id in an HTTP-only
  cookie; only its sha256 is stored, like API keys).
- `qbr_app.threshold_status(...)`: green/yellow/red as SQL, the one home of
  the rule: the dbt macro `threshold_status` (which colours the marts) expands
  to a call of it; the API reads the colours the marts carry.

Where the migrating user may not create roles (a managed server), the role is
skipped with a notice and the API falls back to the configured URL.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROLE = "qbr_api"

#: qbr_app table -> privileges the API needs there (nothing else is granted).
APP_GRANTS = {
    "organization": "select",
    "manual_metrics": "select, insert",
    "thresholds": "select, insert, update, delete",
    "refresh_runs": "select",
    "refresh_steps": "select",
    "api_keys": "select, update (last_used_at)",
    "api_sessions": "select, insert, update, delete",
    "audit_log": "insert",
}


def upgrade(**kwargs) -> None:
    op.execute(
        f"""
        do $$
        begin
            if not exists (select from pg_roles where rolname = '{ROLE}') then
                if exists (
                    select from pg_roles
                    where rolname = current_user and (rolsuper or rolcreaterole)
                ) then
                    create role {ROLE} nologin;
                else
                    raise notice 'qbr: % may not create roles: no API role', current_user;
                end if;
            end if;
        exception when duplicate_object or unique_violation then
            null;  -- another database of this cluster created it at the same moment
        end
        $$
        """
    )

    op.execute(
        """
        create table qbr_app.api_sessions (
            id            bigint generated always as identity primary key,
            token_hash    text not null unique,
            csrf_hash     text not null,
            api_key_id    bigint not null references qbr_app.api_keys (id) on delete cascade,
            created_at    timestamptz not null default now(),
            last_seen_at  timestamptz not null default now(),
            expires_at    timestamptz not null,
            constraint api_sessions_expire_after_create check (expires_at > created_at)
        )
        """
    )
    op.execute("create index api_sessions_expires_idx on qbr_app.api_sessions (expires_at)")
    op.execute(
        "comment on table qbr_app.api_sessions is "
        "'Dashboard sessions: sha256 of the cookie token and of its CSRF token; "
        "revoking the key or logging out ends the session at once.'"
    )

    op.execute(
        """
        create function qbr_app.threshold_status(
            value numeric, direction text,
            green_min numeric, green_max numeric, yellow_min numeric, yellow_max numeric
        ) returns text
        language sql immutable parallel safe
        as $$
            select case
                when value is null or direction is null then null
                when direction = 'higher_is_better' then case
                    when value >= green_min then 'green'
                    when value >= yellow_min then 'yellow'
                    else 'red' end
                when direction = 'lower_is_better' then case
                    when value <= green_max then 'green'
                    when value <= yellow_max then 'yellow'
                    else 'red' end
                when value >= coalesce(green_min, value)
                     and value <= coalesce(green_max, value) then 'green'
                when value >= coalesce(yellow_min, value)
                     and value <= coalesce(yellow_max, value) then 'yellow'
                else 'red'
            end
        $$
        """
    )
    op.execute(
        "comment on function qbr_app.threshold_status(numeric, text, numeric, numeric, "
        "numeric, numeric) is "
        "'green/yellow/red of a value, the rule of the dbt macro threshold_status: "
        "higher_is_better: green from green_min up, yellow from yellow_min up; "
        "lower_is_better: green up to green_max, yellow up to yellow_max; in_range: "
        "within [green_min, green_max] green, within [yellow_min, yellow_max] yellow "
        "(null bounds open); else red. Bounds inclusive.'"
    )

    grants = "\n".join(
        f"execute 'grant {privs} on qbr_app.{table} to {ROLE}';"
        for table, privs in APP_GRANTS.items()
    )
    op.execute(
        f"""
        do $$
        begin
            if exists (select from pg_roles where rolname = '{ROLE}') then
                execute format('grant connect on database %I to {ROLE}', current_database());
                execute 'grant usage on schema qbr_app to {ROLE}';
                {grants}
                execute 'grant execute on function qbr_app.threshold_status(numeric, text, '
                    'numeric, numeric, numeric, numeric) to {ROLE}';
                if exists (select from pg_namespace where nspname = 'qbr') then
                    execute 'grant usage on schema qbr to {ROLE}';
                    execute 'grant select on all tables in schema qbr to {ROLE}';
                end if;
            end if;
        end
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        do $$
        begin
            if exists (select from pg_roles where rolname = '{ROLE}') then
                execute 'revoke all on all tables in schema qbr_app from {ROLE}';
                execute 'revoke usage on schema qbr_app from {ROLE}';
                if exists (select from pg_namespace where nspname = 'qbr') then
                    execute 'revoke all on all tables in schema qbr from {ROLE}';
                    execute 'revoke usage on schema qbr from {ROLE}';
                end if;
            end if;
        end
        $$
        """
    )
    op.execute(
        "drop function if exists qbr_app.threshold_status(numeric, text, numeric, numeric, "
        "numeric, numeric)"
    )
    op.execute("drop table if exists qbr_app.api_sessions")
