{{ config(materialized='view') }}

{#- Every monthly metric, long form: the collected values (a table built by
    the refresh) overlaid with the newest manual entry from
    qbr_app.manual_metrics, plus the derived rows of the input sheet
    computed from the effective values. A view, so a manual entry shows on
    the next read without a rebuild (DESIGN.md decision 3).

    Manual entries: the newest row per (organization, period, metric) wins;
    an action 'revert' as the newest row returns to the collected value.
    Manual-only metrics come from manual entries; for collected metrics the
    API only accepts an entry with force=true, so any 'set' row here wins. -#}
with

collected as (

    select * from {{ ref('metrics_monthly_collected') }}

),

definitions as (

    select * from {{ ref('metric_definitions') }}

),

thresholds as (

    select * from {{ ref('thresholds_effective') }}

),

manual_entries as (

    select * from {{ source('qbr_app', 'manual_metrics') }}

),

latest_manual as (

    select
        organization_id,
        period,
        metric_key,
        action,
        value,
        created_at,
        row_number() over (
            partition by organization_id, period, metric_key
            order by created_at desc, id desc
        ) as recency
    from manual_entries

),

manual as (

    select
        organization_id,
        period,
        metric_key,
        created_at,
        case when action = 'set' then value end as manual_value
    from latest_manual
    where recency = 1

),

inputs as (

    select
        collected.organization_id,
        collected.period,
        collected.metric_key,
        collected.collected_value,
        manual.manual_value,
        collected.coverage,
        collected.is_complete,
        collected.is_in_progress,
        coalesce(manual.manual_value, collected.collected_value) as value,
        case
            when manual.manual_value is not null then 'manual'
            else 'collected'
        end as data_source,
        case
            when manual.manual_value is not null then manual.created_at
            else collected.updated_at
        end as updated_at
    from collected
    left join manual
        on
            collected.organization_id = manual.organization_id
            and collected.period = manual.period
            and collected.metric_key = manual.metric_key

),

pivoted as (

    select
        organization_id,
        period,
        bool_and(is_complete) as is_complete,
        bool_and(is_in_progress) as is_in_progress,
        max(updated_at) as updated_at,
        {%- for key in [
            'nrr', 'mrr', 'employees', 'total_revenue', 'product_cogs',
            'employee_expense', 'owner_comp', 'owner_comp_taxes',
            'other_expenses', 'total_expenses', 'cash_reserve'] %}
        max(value) filter (where metric_key = '{{ key }}') as {{ key }}
        {{- ',' if not loop.last }}
    {%- endfor %}
    from inputs
    group by organization_id, period

),

expenses_window as (

    select
        *,
        avg(total_expenses) over (
            partition by organization_id
            order by period
            rows between 11 preceding and current row
        ) as trailing_avg_total_expenses
    from pivoted

),

derived_values as (

    select
        expenses_window.organization_id,
        expenses_window.period,
        expenses_window.is_complete,
        expenses_window.is_in_progress,
        expenses_window.updated_at,
        derived.metric_key,
        {{ qbr.trim_numeric('derived.value') }} as value
    from expenses_window
    cross join lateral (
        values
        (
            'gross_margin',
            {{ qbr.safe_divide(
                'expenses_window.total_revenue - expenses_window.product_cogs',
                'expenses_window.total_revenue') }}
        ),
        (
            'labor_efficiency_ratio',
            {{ qbr.safe_divide(
                'expenses_window.total_revenue - expenses_window.product_cogs',
                'expenses_window.employee_expense + expenses_window.owner_comp') }}
        ),
        (
            'gross_margin_per_employee',
            {{ qbr.safe_divide(
                'expenses_window.total_revenue - expenses_window.product_cogs',
                'expenses_window.employees') }}
        ),
        (
            'msp_turning_point',
            {{ qbr.safe_divide(
                'expenses_window.nrr + expenses_window.mrr',
                'expenses_window.employee_expense + expenses_window.owner_comp'
                ~ ' + expenses_window.other_expenses') }}
        ),
        (
            'dollar_difference',
            (expenses_window.nrr + expenses_window.mrr)
            - (
                expenses_window.employee_expense
                + expenses_window.owner_comp_taxes
                + expenses_window.owner_comp + expenses_window.other_expenses
            )
        ),
        (
            'cash_reserve_ratio',
            {{ qbr.safe_divide(
                'expenses_window.cash_reserve',
                'expenses_window.trailing_avg_total_expenses') }}
        )
    ) as derived (metric_key, value)

),

all_rows as (

    select
        organization_id,
        period,
        metric_key,
        value,
        data_source,
        collected_value,
        manual_value,
        is_complete,
        is_in_progress,
        coverage,
        updated_at
    from inputs
    union all
    select
        organization_id,
        period,
        metric_key,
        value,
        'collected' as data_source,
        value as collected_value,
        cast(null as numeric) as manual_value,
        is_complete,
        is_in_progress,
        'derived' as coverage,
        updated_at
    from derived_values

),

final as (

    select
        all_rows.organization_id,
        all_rows.period,
        all_rows.metric_key,
        definitions.metric_name,
        all_rows.value,
        definitions.unit,
        definitions.category,
        definitions.source,
        all_rows.data_source,
        all_rows.collected_value,
        all_rows.manual_value,
        all_rows.is_complete,
        all_rows.is_in_progress,
        all_rows.coverage,
        {{ qbr.threshold_status('all_rows.value', 'thresholds') }} as status,
        all_rows.updated_at
    from all_rows
    inner join definitions
        on all_rows.metric_key = definitions.metric_key
    left join thresholds
        on
            all_rows.organization_id = thresholds.organization_id
            and all_rows.metric_key = thresholds.metric_key

)

select * from final
