"""qbr_app: organization, manual metrics, thresholds, refresh runs, API keys, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written as plain DDL so a DBA can read the constraints as PostgreSQL states them.
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PERIOD_MONTH = r"'^[0-9]{4}-(0[1-9]|1[0-2])$'"


def upgrade(**kwargs) -> None:
    org_name = kwargs.get("org_name") or "Enersystems, LLC"
    op.execute(
        """
        create table qbr_app.organization (
            id          integer primary key,
            name        text not null check (length(trim(name)) > 0),
            created_at  timestamptz not null default now(),
            updated_at  timestamptz not null default now()
        )
        """
    )
    op.get_bind().exec_driver_sql(
        "insert into qbr_app.organization (id, name) values (1, %(name)s)",
        {"name": org_name},
    )

    op.execute(
        f"""
        create table qbr_app.manual_metrics (
            id               bigint generated always as identity primary key,
            organization_id  integer not null default 1
                             references qbr_app.organization (id),
            period           text not null check (period ~ {PERIOD_MONTH}),
            metric_key       text not null check (metric_key ~ '^[a-z][a-z0-9_]*$'),
            action           text not null default 'set' check (action in ('set', 'revert')),
            value            numeric,
            notes            text,
            forced           boolean not null default false,
            entered_by       text not null,
            created_at       timestamptz not null default now(),
            constraint manual_metrics_value_when_set
                check ((action = 'set') = (value is not null))
        )
        """
    )
    op.execute(
        "comment on table qbr_app.manual_metrics is "
        "'Every manual entry ever made (history kept): the newest row per "
        "(organization, period, metric) wins; action revert returns to the collected value.'"
    )
    op.execute(
        "create index manual_metrics_latest_idx on qbr_app.manual_metrics "
        "(organization_id, period, metric_key, created_at desc, id desc)"
    )

    op.execute(
        """
        create table qbr_app.thresholds (
            id               bigint generated always as identity primary key,
            organization_id  integer not null default 1
                             references qbr_app.organization (id),
            metric_key       text not null,
            direction        text not null check (direction in
                                 ('higher_is_better', 'lower_is_better', 'in_range')),
            green_min        numeric,
            green_max        numeric,
            yellow_min       numeric,
            yellow_max       numeric,
            notes            text,
            updated_by       text not null,
            created_at       timestamptz not null default now(),
            updated_at       timestamptz not null default now(),
            constraint thresholds_one_per_metric unique (organization_id, metric_key),
            constraint thresholds_has_band
                check (coalesce(green_min, green_max) is not null),
            constraint thresholds_green_ordered
                check (green_min is null or green_max is null or green_min <= green_max),
            constraint thresholds_yellow_ordered
                check (yellow_min is null or yellow_max is null or yellow_min <= yellow_max)
        )
        """
    )
    op.execute(
        "comment on table qbr_app.thresholds is "
        "'Threshold overrides made through the API; metrics without a row use the "
        "default_thresholds dbt seed.'"
    )

    op.execute(
        """
        create table qbr_app.refresh_runs (
            batch_id         text primary key check (batch_id ~ '^bc_[0-9A-Za-z]{26}$'),
            organization_id  integer not null default 1
                             references qbr_app.organization (id),
            status           text not null default 'queued' check (status in
                                 ('queued', 'running', 'succeeded', 'partial', 'failed')),
            trigger          text not null default 'cli'
                             check (trigger in ('cli', 'api', 'schedule', 'demo', 'test')),
            requested_by     text,
            options          jsonb not null default '{}'::jsonb,
            progress         numeric(5, 2) not null default 0
                             check (progress between 0 and 100),
            pid              integer,
            error            text,
            anomaly_flags    jsonb not null default '[]'::jsonb,
            created_at       timestamptz not null default now(),
            started_at       timestamptz,
            finished_at      timestamptz,
            constraint refresh_runs_finished_after_start
                check (finished_at is null or started_at is null or finished_at >= started_at)
        )
        """
    )
    op.execute("create index refresh_runs_created_idx on qbr_app.refresh_runs (created_at desc)")
    op.execute(
        "create index refresh_runs_active_idx on qbr_app.refresh_runs (status) "
        "where status in ('queued', 'running')"
    )

    op.execute(
        """
        create table qbr_app.refresh_steps (
            id            bigint generated always as identity primary key,
            batch_id      text not null references qbr_app.refresh_runs (batch_id)
                          on delete cascade,
            step_order    integer not null check (step_order >= 0),
            name          text not null,
            kind          text not null check (kind in ('source', 'build', 'check')),
            status        text not null default 'queued' check (status in
                              ('queued', 'running', 'succeeded', 'failed', 'skipped')),
            rows_loaded   bigint check (rows_loaded is null or rows_loaded >= 0),
            rows_rejected bigint check (rows_rejected is null or rows_rejected >= 0),
            started_at    timestamptz,
            finished_at   timestamptz,
            duration_ms   bigint check (duration_ms is null or duration_ms >= 0),
            error         text,
            details       jsonb not null default '{}'::jsonb,
            constraint refresh_steps_unique_name unique (batch_id, name)
        )
        """
    )
    op.execute(
        "create index refresh_steps_source_ok_idx on qbr_app.refresh_steps "
        "(name, finished_at desc) where status = 'succeeded'"
    )

    op.execute(
        """
        create table qbr_app.api_keys (
            id            bigint generated always as identity primary key,
            name          text not null unique check (length(trim(name)) > 0),
            key_prefix    text not null,
            key_hash      text not null unique,
            scope         text not null check (scope in ('read', 'admin')),
            created_at    timestamptz not null default now(),
            last_used_at  timestamptz,
            revoked_at    timestamptz
        )
        """
    )
    op.execute(
        "comment on column qbr_app.api_keys.key_hash is "
        "'sha256 of the key; the key itself is shown once at creation and never stored'"
    )

    op.execute(
        """
        create table qbr_app.audit_log (
            id               bigint generated always as identity primary key,
            organization_id  integer not null default 1
                             references qbr_app.organization (id),
            at               timestamptz not null default now(),
            actor            text not null,
            action           text not null,
            target           text,
            details          jsonb not null default '{}'::jsonb
        )
        """
    )
    op.execute("create index audit_log_at_idx on qbr_app.audit_log (at desc)")

    op.execute(
        """
        create table qbr_app.source_credentials (
            source      text primary key,
            data        jsonb not null,
            updated_at  timestamptz not null default now()
        )
        """
    )
    op.execute(
        "comment on table qbr_app.source_credentials is "
        "'Rotating source secrets (the newest QuickBooks refresh token), never in the repo.'"
    )


def downgrade() -> None:
    for table in (
        "source_credentials",
        "audit_log",
        "api_keys",
        "refresh_steps",
        "refresh_runs",
        "thresholds",
        "manual_metrics",
        "organization",
    ):
        op.execute(f"drop table if exists qbr_app.{table}")
