{{ config(materialized='view') }}

{#- Quarterly values of every monthly metric, from metrics_monthly (so
    manual entries flow through): inputs by their quarterly rule (sum, avg
    over the months that have a value, or the last month with a value);
    derived ratios recomputed from the quarter's summed / averaged parts,
    never averaged from monthly ratios. monthly_values holds the months
    behind each number ({"2025-01": 12, ...}). -#}
with

monthly as (

    select * from {{ ref('metrics_monthly') }}

),

definitions as (

    select * from {{ ref('metric_definitions') }}

),

periods as (

    select * from {{ ref('periods') }}
    where period_type = 'quarterly'

),

thresholds as (

    select * from {{ ref('thresholds_effective') }}

),

monthly_in_quarter as (

    select
        monthly.*,
        {{ qbr.quarter_period("to_date(monthly.period, 'YYYY-MM')") }}
            as quarter_period
    from monthly

),

aggregated as (

    select
        organization_id,
        quarter_period,
        metric_key,
        sum(value) as sum_value,
        {{ qbr.trim_numeric('avg(value)') }} as avg_value,
        (array_agg(value order by period desc) filter (
            where value is not null
        ))[1] as last_value,
        count(value) as months_with_value,
        jsonb_object_agg(period, value) as monthly_values,
        -- data_source of the quarter: manual, collected or mixed, from
        -- the months that have a value (null when none has)
        case
            when count(value) = 0 then null
            when bool_and(data_source = 'manual') filter (
                where value is not null
            ) then 'manual'
            when bool_or(data_source = 'manual') filter (
                where value is not null
            ) then 'mixed'
            else 'collected'
        end as data_source
    from monthly_in_quarter
    group by organization_id, quarter_period, metric_key

),

inputs as (

    select
        aggregated.organization_id,
        aggregated.quarter_period,
        aggregated.metric_key,
        case definitions.quarterly_rule
            when 'sum' then aggregated.sum_value
            when 'avg' then aggregated.avg_value
            when 'last' then aggregated.last_value
        end as value
    from aggregated
    inner join definitions
        on aggregated.metric_key = definitions.metric_key
    where definitions.quarterly_rule in ('sum', 'avg', 'last')

),

parts as (

    select
        organization_id,
        quarter_period,
        {%- for key in [
            'nrr', 'mrr', 'total_revenue', 'product_cogs',
            'employee_expense', 'owner_comp', 'owner_comp_taxes',
            'other_expenses', 'employees', 'cash_reserve'] %}
        max(value) filter (where metric_key = '{{ key }}') as {{ key }}
        {{- ',' if not loop.last }}
    {%- endfor %}
    from inputs
    group by organization_id, quarter_period

),

trailing_expenses as (

    select
        organization_id,
        quarter_period,
        period,
        avg(value) over (
            partition by organization_id
            order by period
            rows between 11 preceding and current row
        ) as trailing_avg_total_expenses,
        row_number() over (
            partition by organization_id, quarter_period
            order by period desc
        ) as recency
    from monthly_in_quarter
    where metric_key = 'total_expenses'

),

quarter_end_expenses as (

    select
        organization_id,
        quarter_period,
        trailing_avg_total_expenses
    from trailing_expenses
    where recency = 1

),

derived as (

    select
        parts.organization_id,
        parts.quarter_period,
        formula.metric_key,
        formula.value
    from parts
    left join quarter_end_expenses
        on
            parts.organization_id = quarter_end_expenses.organization_id
            and parts.quarter_period = quarter_end_expenses.quarter_period
    cross join lateral (
        values
        (
            'gross_margin',
            {{ qbr.safe_divide(
                'parts.total_revenue - parts.product_cogs',
                'parts.total_revenue') }}
        ),
        (
            'labor_efficiency_ratio',
            {{ qbr.safe_divide(
                'parts.total_revenue - parts.product_cogs',
                'parts.employee_expense + parts.owner_comp') }}
        ),
        (
            'gross_margin_per_employee',
            {{ qbr.safe_divide(
                'parts.total_revenue - parts.product_cogs',
                'parts.employees') }}
        ),
        (
            'msp_turning_point',
            {{ qbr.safe_divide(
                'parts.nrr + parts.mrr',
                'parts.employee_expense + parts.owner_comp'
                ~ ' + parts.other_expenses') }}
        ),
        (
            'dollar_difference',
            (parts.nrr + parts.mrr)
            - (
                parts.employee_expense + parts.owner_comp_taxes
                + parts.owner_comp + parts.other_expenses
            )
        ),
        (
            'cash_reserve_ratio',
            {{ qbr.safe_divide(
                'parts.cash_reserve',
                'quarter_end_expenses.trailing_avg_total_expenses') }}
        )
    ) as formula (metric_key, value)

),

quarter_values as (

    select * from inputs
    union all
    select * from derived

),

final as (

    select
        quarter_values.organization_id,
        quarter_values.quarter_period as period,
        quarter_values.metric_key,
        definitions.metric_name,
        {{ qbr.trim_numeric('quarter_values.value') }} as value,
        definitions.unit,
        definitions.category,
        definitions.source,
        definitions.quarterly_rule,
        periods.is_complete,
        coalesce(aggregated.months_with_value, 0) as months_with_value,
        coalesce(aggregated.monthly_values, '{}'::jsonb) as monthly_values,
        aggregated.data_source,
        {{ qbr.threshold_status(
            qbr.trim_numeric('quarter_values.value'), 'thresholds') }}
            as status
    from quarter_values
    inner join definitions
        on quarter_values.metric_key = definitions.metric_key
    inner join periods
        on
            quarter_values.organization_id = periods.organization_id
            and quarter_values.quarter_period = periods.period
    left join aggregated
        on
            quarter_values.organization_id = aggregated.organization_id
            and quarter_values.quarter_period = aggregated.quarter_period
            and quarter_values.metric_key = aggregated.metric_key
    left join thresholds
        on
            quarter_values.organization_id = thresholds.organization_id
            and quarter_values.metric_key = thresholds.metric_key

)

select * from final
