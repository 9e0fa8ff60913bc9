"""SmartNumbers and quarterly metrics as tables that follow manual entries at once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

dbt builds `qbr.metrics_quarterly` and `qbr.smartnumbers` as tables (copies of
the views `qbr.metrics_quarterly_live` / `qbr.smartnumbers_live`), so the API
reads a small indexed table instead of planning and running a chain of views
per request. A manual entry or a threshold edit must still change a number or
a colour on the next read (DESIGN.md decision 3): a deferred constraint
trigger on `qbr_app.manual_metrics` and `qbr_app.thresholds` recomputes both
tables once per transaction, at its commit, inside it, so the write and the
new numbers become visible together. `qbr_app.refresh_overlay_tables()` does
the recomputation (also called by the refresh right after its swap, so an
entry made while a build ran is not lost); it does nothing where the marts
are not built that way (no `*_live` view, e.g. before the first build).
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OVERLAYS = ("metrics_quarterly", "smartnumbers")  # in this order: the second reads the first


def upgrade(**kwargs) -> None:
    steps = "\n".join(
        f"""
        if to_regclass('qbr.{name}_live') is not null and exists (
            select from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = 'qbr' and c.relname = '{name}' and c.relkind in ('r', 'p')
        ) then
            -- self-exclusive, readers welcome: two writers never interleave
            execute 'lock table qbr.{name} in share row exclusive mode';
            -- by name: the table has the contract's column order, the view its own
            select string_agg(quote_ident(attname), ', ' order by attnum) into cols
            from pg_attribute
            where attrelid = 'qbr.{name}'::regclass and attnum > 0 and not attisdropped;
            execute 'delete from qbr.{name}';
            execute format(
                'insert into qbr.{name} (%s) select %s from qbr.{name}_live', cols, cols
            );
            done := done + 1;
        end if;"""
        for name in OVERLAYS
    )
    op.execute(
        f"""
        create function qbr_app.refresh_overlay_tables() returns integer
        language plpgsql security definer set search_path = pg_catalog, pg_temp
        as $$
        declare
            done integer := 0;
            cols text;
        begin
            {steps}
            return done;
        end
        $$
        """
    )
    op.execute(
        "comment on function qbr_app.refresh_overlay_tables() is "
        "'Recompute the tables qbr.metrics_quarterly and qbr.smartnumbers from their "
        "*_live views (manual entries and thresholds included); returns how many it did.'"
    )
    op.execute(
        """
        create function qbr_app.refresh_overlay_tables_once() returns trigger
        language plpgsql security definer set search_path = pg_catalog, pg_temp
        as $$
        begin
            -- deferred to commit: every write of the transaction is in; once per transaction
            if current_setting('qbr.overlays_refreshed', true)
                is distinct from txid_current()::text then
                perform qbr_app.refresh_overlay_tables();
                perform set_config('qbr.overlays_refreshed', txid_current()::text, true);
            end if;
            return null;
        end
        $$
        """
    )
    for table in ("manual_metrics", "thresholds"):
        op.execute(
            f"""
            create constraint trigger {table}_refresh_overlays
            after insert or update or delete on qbr_app.{table}
            deferrable initially deferred
            for each row execute function qbr_app.refresh_overlay_tables_once()
            """
        )


def downgrade() -> None:
    for table in ("manual_metrics", "thresholds"):
        op.execute(f"drop trigger if exists {table}_refresh_overlays on qbr_app.{table}")
    op.execute("drop function if exists qbr_app.refresh_overlay_tables_once()")
    op.execute("drop function if exists qbr_app.refresh_overlay_tables()")
