"""Per-source freshness from the refresh log: the "as of" date of every source.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

`qbr_app.source_freshness` has one row per source ever attempted by a
refresh: its last good load (from `refresh_steps`) and its last attempt. A
source that failed in the latest run keeps its last good load here, so dbt
(as a source), the API's health endpoint and the dashboard say "as of" that
date. It is a view: always current, nothing to keep in sync.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROLE = "qbr_api"


def upgrade(**kwargs) -> None:
    op.execute(
        """
        create view qbr_app.source_freshness as
        with source_steps as (
            select
                steps.name as source,
                steps.batch_id,
                steps.status,
                steps.finished_at,
                steps.rows_loaded,
                steps.error
            from qbr_app.refresh_steps as steps
            where steps.kind = 'source' and steps.finished_at is not null
        ),
        last_good as (
            select distinct on (source)
                source, batch_id, finished_at, rows_loaded
            from source_steps
            where status = 'succeeded'
            order by source, finished_at desc
        ),
        last_attempt as (
            select distinct on (source)
                source, batch_id, status, finished_at, error
            from source_steps
            order by source, finished_at desc
        )
        select
            last_attempt.source,
            last_good.finished_at as last_good_load_at,
            last_good.batch_id as last_good_batch_id,
            last_good.rows_loaded as last_good_rows_loaded,
            last_attempt.finished_at as last_attempt_at,
            last_attempt.batch_id as last_attempt_batch_id,
            last_attempt.status as last_attempt_status,
            nullif(split_part(coalesce(last_attempt.error, ''), E'\\n', 1), '') as last_error
        from last_attempt
        left join last_good on last_good.source = last_attempt.source
        """
    )
    op.execute(
        "comment on view qbr_app.source_freshness is "
        "'One row per source: its last successful load (the as-of date of its metrics) "
        "and its last attempt, from the refresh log.'"
    )
    op.execute(
        f"""
        do $$
        begin
            if exists (select from pg_roles where rolname = '{ROLE}') then
                execute 'grant select on qbr_app.source_freshness to {ROLE}';
            end if;
        end
        $$
        """
    )


def downgrade() -> None:
    op.execute("drop view if exists qbr_app.source_freshness")
