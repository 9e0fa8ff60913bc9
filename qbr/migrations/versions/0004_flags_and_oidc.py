"""Anomaly-flag state (raised once, then carried or acknowledged) and pending OIDC sign-ins.

`qbr.data_quality_flags` (dbt) is the one place flags are computed. After
each build the refresh records every flag it finds here by its `flag_id`:
first seen (the run that raised it), last seen, and whether a person has
acknowledged it (`POST /api/qbr/flags/<flag_id>/acknowledge`). A flag already
known is *carried*, not raised again; an acknowledged one stays quiet.

`qbr_app.oidc_logins` holds a sign-in between the redirect to the issuer and
its callback: the state (hashed), the nonce and the PKCE verifier. A row is
used once (deleted by the callback) and is good for ten minutes.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROLE = "qbr_api"


def upgrade(**kwargs) -> None:
    op.execute(
        """
        create table qbr_app.data_quality_flag_state (
            flag_id text primary key,
            organization_id integer not null default 1,
            period text,
            flag text not null,
            subject text,
            message text not null,
            first_raised_at timestamptz not null default now(),
            first_raised_batch text,
            last_seen_at timestamptz not null default now(),
            last_seen_batch text,
            acknowledged_at timestamptz,
            acknowledged_by text
        )
        """
    )
    op.execute(
        """
        create table qbr_app.oidc_logins (
            state_hash text primary key,
            nonce text not null,
            code_verifier text not null,
            created_at timestamptz not null default now()
        )
        """
    )
    op.execute(
        f"""
        do $$
        begin
            if exists (select from pg_roles where rolname = '{ROLE}') then
                execute 'grant select, update (acknowledged_at, acknowledged_by) '
                    'on qbr_app.data_quality_flag_state to {ROLE}';
                execute 'grant select, insert, delete on qbr_app.oidc_logins to {ROLE}';
            end if;
        end
        $$
        """
    )


def downgrade() -> None:
    op.execute("drop table if exists qbr_app.oidc_logins")
    op.execute("drop table if exists qbr_app.data_quality_flag_state")
