{#- Indexes for the API's look-ups (period / key / client). -#}
{{ config(indexes=[{'columns': ['period']}]) }}

{#- Data-quality warnings (METRICS.md 4), never failures, and the one
    place they are computed (the refresh reads this mart; the API serves it):
    the latest complete month with 0 reactive tickets or 0 endpoints; a
    change from the month before in an input metric above the
    mom_change_flag_threshold var AND above the materiality floor of its unit
    (flag_materiality_floor: a $20 -> $69 swing is not news); a negative
    count or hours value (rejected: not stored as a metric); P&L accounts
    without a category (in a month they carry an amount) or with an
    ambiguous one; unmatched clients; a source not loaded for longer than
    source_stale_after_hours (QBR_STALE_AFTER_HOURS). Month-level flags are
    raised only for the latest complete month and the month in progress,
    never for all history; flags not tied to a month carry the current
    month. flag_id identifies a flag across builds (the refresh marks it new,
    carried or acknowledged in qbr_app.data_quality_flag_state). -#}
with

collected as (

    select * from {{ ref('metrics_monthly_collected') }}

),

catalogue as (

    select * from {{ ref('metric_catalogue') }}

),

accounts as (

    select * from {{ ref('int_pnl_accounts_mapped') }}

),

pnl as (

    select * from {{ ref('stg_quickbooks__profit_and_loss') }}

),

unmatched as (

    select * from {{ ref('unmatched_clients') }}

),

connectwise_loads as (

    select * from {{ ref('stg_connectwise__loads') }}

),

quickbooks_loads as (

    select * from {{ ref('stg_quickbooks__loads') }}

),

snapshots as (

    select * from {{ ref('int_device_snapshots_latest_in_month') }}

),

current_period as (

    select {{ qbr.month_period(qbr.reporting_current_month()) }} as period

),

flag_periods as (

    select max(period) as period
    from collected
    where is_complete
    union
    select period from current_period

),

zero_values as (

    select
        period,
        metric_key,
        'zero_value' as flag,
        'warning' as severity,
        metric_key as subject,
        'a complete month with 0 for ' || metric_key as message
    from collected
    where
        metric_key in ('reactive_tickets_created', 'endpoints_managed')
        and is_complete
        and collected_value = 0
        and period in (select flag_periods.period from flag_periods)

),

with_previous as (

    select
        collected.period,
        collected.metric_key,
        collected.collected_value,
        collected.is_complete,
        case catalogue.unit
            {%- for unit, floor in var('flag_materiality_floor').items() %}
                when '{{ unit }}' then {{ floor }}
            {%- endfor %}
            else 0
        end as materiality_floor,
        lag(collected.collected_value) over (
            partition by collected.organization_id, collected.metric_key
            order by collected.period
        ) as previous_value
    from collected
    inner join catalogue
        on collected.metric_key = catalogue.metric_key
    where
        catalogue.collection <> 'manual'
        and collected.metric_key not in (
            {%- for key in var('mom_change_flag_excluded') %}
                '{{ key }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )

),

large_changes as (

    select
        period,
        metric_key,
        'large_change' as flag,
        'warning' as severity,
        metric_key as subject,
        metric_key || ' changed by '
        || to_char(
            100 * (collected_value - previous_value) / abs(previous_value),
            'FM999999990'
        )
        || '% from the previous month' as message
    from with_previous
    where
        is_complete
        and previous_value is not null
        and previous_value <> 0
        and collected_value is not null
        and abs(collected_value - previous_value) / abs(previous_value)
        > {{ var('mom_change_flag_threshold') }}
        and abs(collected_value - previous_value) >= materiality_floor
        and period in (select flag_periods.period from flag_periods)

),

negative_values as (

    select
        period,
        metric_key,
        'negative_value' as flag,
        'error' as severity,
        metric_key as subject,
        'negative ' || metric_key || ' (' || raw_value
        || ') rejected: not stored as a metric' as message
    from collected
    where
        raw_value < 0
        and collected_value is null
        and period in (select flag_periods.period from flag_periods)

),

unmapped_accounts as (

    select
        {{ qbr.month_period('pnl.pnl_month') }} as period,
        cast(null as text) as metric_key,
        'unmapped_account' as flag,
        'warning' as severity,
        accounts.account_full_name as subject,
        'P&L account "' || accounts.account_full_name
        || '" has no category: ' || sum(pnl.amount)
        || ' left out of the totals' as message
    from pnl
    inner join accounts
        on pnl.account_key = accounts.account_key
    where
        not accounts.is_mapped
        and pnl.amount <> 0
        and {{ qbr.month_period('pnl.pnl_month') }}
        in (select flag_periods.period from flag_periods)
    group by pnl.pnl_month, accounts.account_full_name

),

ambiguous_accounts as (

    select
        current_period.period,
        cast(null as text) as metric_key,
        'ambiguous_account_mapping' as flag,
        'warning' as severity,
        accounts.account_full_name as subject,
        'P&L account "' || accounts.account_full_name
        || '" matches two categories at the same priority; counted once in '
        || accounts.category as message
    from accounts
    cross join current_period
    where accounts.is_ambiguous

),

unmatched_clients as (

    select
        current_period.period,
        cast(null as text) as metric_key,
        'unmatched_client' as flag,
        'warning' as severity,
        unmatched.source_system || ': ' || unmatched.source_name as subject,
        unmatched.source_system || ' record "' || unmatched.source_name
        || '" matches no ConnectWise company' as message
    from unmatched
    cross join current_period

),

last_loads as (

    select
        'connectwise' as source_name,
        max(loaded_at) as last_loaded_at
    from connectwise_loads
    union all
    select
        'quickbooks' as source_name,
        max(loaded_at) as last_loaded_at
    from quickbooks_loads
    union all
    select
        'inventory' as source_name,
        {{ qbr.local_midnight('max(snapshot_date) + 1') }} as last_loaded_at
    from snapshots

),

stale_sources as (

    select
        current_period.period,
        cast(null as text) as metric_key,
        case
            when last_loads.last_loaded_at is null then 'source_not_loaded'
            else 'source_stale'
        end as flag,
        case
            when last_loads.last_loaded_at is null then 'info'
            else 'warning'
        end as severity,
        last_loads.source_name as subject,
        case
            when last_loads.last_loaded_at is null
                then last_loads.source_name || ' has never been loaded'
            else
                last_loads.source_name || ' last loaded at '
                || to_char(
                    last_loads.last_loaded_at at time zone 'UTC',
                    'YYYY-MM-DD HH24:MI "UTC"'
                )
        end as message
    from last_loads
    cross join current_period
    where
        last_loads.last_loaded_at is null
        or last_loads.last_loaded_at < now() - interval '1 hour' * (
            {%- set limits = fromjson(var('source_stale_limits', '{}')) %}
            {%- if limits %}
                case last_loads.source_name
                    {%- for name, hours in limits.items() %}
                        when '{{ name }}' then {{ hours }}
                    {%- endfor %}
                    else {{ var("source_stale_after_hours") }}
                end
            {%- else %}
                {{ var("source_stale_after_hours") }}
            {%- endif %}
        )

),

unioned as (

    select * from zero_values
    union all
    select * from large_changes
    union all
    select * from negative_values
    union all
    select * from unmapped_accounts
    union all
    select * from ambiguous_accounts
    union all
    select * from unmatched_clients
    union all
    select * from stale_sources

),

final as (

    select
        {{ var('organization_id') }} as organization_id,
        period,
        metric_key,
        flag,
        severity,
        message,
        subject,
        md5(
            concat_ws(
                '|',
                {{ var('organization_id') }},
                period,
                flag,
                coalesce(subject, '')
            )
        ) as flag_id
    from unioned

)

select * from final
