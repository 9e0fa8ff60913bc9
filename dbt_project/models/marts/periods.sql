{#- Indexes for the API's look-ups (period / key / client). -#}
{{ config(indexes=[{'columns': ['period_type', 'period']}]) }}

{#- Monthly and quarterly periods from the history start to the current
    month (DESIGN.md decision 5): local-time bounds, completeness, and which
    sources cover each period. A quarter is covered by a source when every
    one of its started months is. -#}
with

months as (

    select * from {{ ref('int_months') }}
    where is_reported

),

coverage as (

    select * from {{ ref('int_source_coverage_monthly') }}

),

monthly as (

    select
        months.period,
        'monthly' as period_type,
        months.month_start as start_date,
        months.month_end as end_date,
        months.starts_at,
        months.ends_at,
        months.is_complete,
        months.is_in_progress,
        array[months.period] as months,
        coverage.has_connectwise,
        coverage.has_quickbooks,
        coverage.has_inventory
    from months
    inner join coverage
        on months.month_start = coverage.month_start

),

quarter_bounds as (

    select
        months.quarter_period as period,
        min(
            cast(date_trunc('quarter', months.month_start) as date)
        ) as start_date,
        bool_and(coverage.has_connectwise) as has_connectwise,
        bool_and(coverage.has_quickbooks) as has_quickbooks,
        bool_and(coverage.has_inventory) as has_inventory
    from months
    inner join coverage
        on months.month_start = coverage.month_start
    group by months.quarter_period

),

quarterly as (

    select
        period,
        'quarterly' as period_type,
        start_date,
        cast(
            start_date + interval '3 months' - interval '1 day' as date
        ) as end_date,
        {{ qbr.local_midnight('start_date') }} as starts_at,
        {{ qbr.local_midnight("start_date + interval '3 months'") }}
            as ends_at,
        {{ qbr.local_midnight("start_date + interval '3 months'") }}
        <= now() as is_complete,
        {{ qbr.local_midnight("start_date + interval '3 months'") }}
        > now() as is_in_progress,
        array[
            {{ qbr.month_period('start_date') }},
            {{ qbr.month_period("start_date + interval '1 month'") }},
            {{ qbr.month_period("start_date + interval '2 months'") }}
        ] as months,
        has_connectwise,
        has_quickbooks,
        has_inventory
    from quarter_bounds

),

unioned as (

    select * from monthly
    union all
    select * from quarterly

),

final as (

    select
        {{ var('organization_id') }} as organization_id,
        period,
        period_type,
        start_date,
        end_date,
        starts_at,
        ends_at,
        is_complete,
        is_in_progress,
        months,
        has_connectwise,
        has_quickbooks,
        has_inventory
    from unioned

)

select * from final
