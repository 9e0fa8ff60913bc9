{#- Heavy: every time entry ever. Incremental, so a daily build touches only
    rows from new dlt loads (edits and deletion marks arrive as new loads of
    the same id) plus the months from (latest month - lookback), and merges
    them on time_entry_id (`qbr refresh --since YYYY-MM` passes the var
    refresh_since: those months are re-read too). Deleted entries are kept,
    flagged, because raw rows are never hard-deleted. Seed-driven classification (which boards
    are reactive) is deliberately NOT baked in here: it happens downstream
    in views, so a seed edit needs no full refresh. Changing the reporting
    time zone does: run with --full-refresh. The key is a unique index and
    NOT NULL, so its key test reads the catalog, not every entry. -#}
{{
    config(
        materialized='incremental',
        unique_key='time_entry_id',
        indexes=[
            {'columns': ['time_entry_id'], 'unique': true},
            {'columns': ['entered_month']},
        ],
        post_hook="{{ qbr.set_not_null(['time_entry_id']) }}",
    )
}}

with

time_entries as (

    select * from {{ ref('stg_connectwise__time_entries') }}
    {% if is_incremental() %}
        where
            dlt_load_id > (
                select coalesce(max(this.dlt_load_id), '')
                from {{ this }} as this
            )
            or entered_at >= (
                select
                    {{ qbr.local_midnight(
                        "max(this.entered_month) - interval '"
                        ~ var('incremental_lookback_months') ~ " month'"
                    ) }}
                from {{ this }} as this
            )
        {%- if var('refresh_since', none) %}
            or entered_at >= {{ qbr.local_midnight(
                "to_date('" ~ var('refresh_since') ~ "', 'YYYY-MM')") }}
        {%- endif %}
    {% endif %}

),

bucketed as (

    select
        time_entry_id,
        service_ticket_id,
        charge_to_type,
        company_id,
        member_id,
        agreement_id,
        actual_hours,
        entered_at,
        updated_at,
        is_deleted,
        dlt_load_id,
        {{ qbr.reporting_month('entered_at') }} as entered_month
    from time_entries

)

select * from bucketed
