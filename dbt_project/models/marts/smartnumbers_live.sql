{{ config(materialized='view') }}

{#- The SmartNumbers (METRICS.md 2) per quarter, with the S() / A() values
    each one used, QoQ / YoY changes (absolute differences from the previous
    quarter and the same quarter a year before) and the threshold status. A
    view over metrics_quarterly (itself over metrics_monthly), so manual
    entries and threshold changes show on the next read.
    S(x) = the quarter's sum, A(x) = the average over months with a value,
    "/ 3" turns a quarter total into a per-month figure. A quarter in
    progress divides by the number of its months that have data instead
    (as A() does), its SmartNumbers are provisional (is_provisional) and get
    no status colour. (docs block in_progress_quarter) Any division by zero
    or by a missing value gives null. -#}
with

quarterly as (

    select * from {{ ref('metrics_quarterly_live') }}

),

monthly as (

    select * from {{ ref('metrics_monthly') }}

),

retention as (

    select * from {{ ref('revenue_retention_quarterly') }}

),

definitions as (

    select * from {{ ref('metric_definitions') }}

),

thresholds as (

    select * from {{ ref('thresholds_effective') }}

),

periods as (

    select * from {{ ref('periods') }}
    where period_type = 'quarterly'

),

quarter_parts as (

    -- every metric's quarter value by its quarterly rule (S() of a summed
    -- input, A() of an averaged one) and its months with a value, by key:
    -- read with qbr.quarter_value(key) / qbr.quarter_months(key)
    select
        organization_id,
        period,
        jsonb_object_agg(metric_key, value) as quarter_values,
        jsonb_object_agg(metric_key, months_with_value) as months_with_value
    from quarterly
    group by organization_id, period

),

security_months as (

    select
        organization_id,
        {{ qbr.quarter_period("to_date(period, 'YYYY-MM')") }} as period,
        {{ qbr.trim_numeric('avg(value)') }} as a_endpoints_in_security_months
    from monthly
    where
        metric_key = 'endpoints_managed'
        and exists (
            select 1
            from monthly as covered
            where
                covered.organization_id = monthly.organization_id
                and covered.period = monthly.period
                and covered.metric_key = 'endpoints_with_security'
                and covered.value is not null
        )
    group by
        organization_id,
        {{ qbr.quarter_period("to_date(period, 'YYYY-MM')") }}

),

q as (

    select
        quarter_parts.*,
        periods.is_in_progress as is_provisional,
        security_months.a_endpoints_in_security_months,
        retention.clients_at_start,
        {{ qbr.trim_numeric('retention.start_mrr') }} as start_mrr,
        {{ qbr.trim_numeric('retention.end_mrr') }} as end_mrr,
        {{ qbr.trim_numeric('retention.end_mrr_capped') }} as end_mrr_capped,
        retention.net_revenue_retention_pct,
        retention.gross_revenue_retention_pct
    from quarter_parts
    left join security_months
        on
            quarter_parts.organization_id = security_months.organization_id
            and quarter_parts.period = security_months.period
    left join retention
        on
            quarter_parts.organization_id = retention.organization_id
            and quarter_parts.period = retention.period
    left join periods
        on
            quarter_parts.organization_id = periods.organization_id
            and quarter_parts.period = periods.period

),

computed as (

    -- one tuple per SmartNumber: its key, its formula (METRICS.md 2) and
    -- inputs beyond the catalogue's formula_inputs (which final adds)
    select
        q.organization_id,
        q.period,
        formula.metric_key,
        {{ qbr.trim_numeric('cast(formula.value as numeric)') }} as value,
        q.quarter_values,
        formula.extra_inputs,
        coalesce(q.is_provisional, false) as is_provisional
    from q
    cross join lateral (
        values
        (
            'tickets_per_tech_per_month',
            {{ qbr.safe_divide(
                qbr.quarter_value('reactive_tickets_closed'),
                qbr.quarter_value('technical_employees') ~ ' * '
                ~ qbr.quarter_months('reactive_tickets_closed')) }},
            '{}'::jsonb
        ),
        (
            'total_close_pct',
            {{ qbr.safe_divide(
                qbr.quarter_value('reactive_tickets_closed'),
                qbr.quarter_value('reactive_tickets_created')) }},
            '{}'::jsonb
        ),
        (
            'tickets_per_endpoint_per_month',
            {{ qbr.safe_divide(
                qbr.quarter_value('reactive_tickets_created'),
                qbr.quarter_months('reactive_tickets_created') ~ ' * '
                ~ qbr.quarter_value('endpoints_managed')) }},
            '{}'::jsonb
        ),
        (
            'rhem',
            {{ qbr.safe_divide(
                qbr.quarter_value('reactive_time_spent'),
                qbr.quarter_value('endpoints_managed') ~ ' * '
                ~ qbr.quarter_months('reactive_time_spent')) }},
            '{}'::jsonb
        ),
        (
            'avg_resolution_time',
            {{ qbr.safe_divide(
                qbr.quarter_value('reactive_time_spent'),
                qbr.quarter_value('reactive_tickets_closed')) }},
            '{}'::jsonb
        ),
        (
            'reactive_service_pct',
            {{ qbr.safe_divide(
                qbr.quarter_value('reactive_time_spent') ~ ' / '
                ~ qbr.quarter_months('reactive_time_spent'),
                qbr.quarter_value('technical_employees') ~ ' * '
                ~ var('working_hours_per_tech_month')) }},
            jsonb_build_object(
                'working_hours_per_tech_month',
                {{ var('working_hours_per_tech_month') }}
            )
        ),
        (
            'net_profit_pct',
            {{ qbr.safe_divide(
                qbr.quarter_value('net_profit'),
                qbr.quarter_value('total_revenue')) }},
            '{}'::jsonb
        ),
        (
            'revenue_from_services_pct',
            {{ qbr.safe_divide(
                qbr.quarter_value('nrr') ~ ' + ' ~ qbr.quarter_value('mrr'),
                qbr.quarter_value('total_revenue')) }},
            '{}'::jsonb
        ),
        (
            'services_from_mrr_pct',
            {{ qbr.safe_divide(
                qbr.quarter_value('mrr'),
                qbr.quarter_value('nrr') ~ ' + ' ~ qbr.quarter_value('mrr')) }},
            '{}'::jsonb
        ),
        (
            'annual_service_rev_per_employee',
            {{ qbr.safe_divide(
                '(' ~ qbr.quarter_value('nrr') ~ ' + '
                ~ qbr.quarter_value('mrr') ~ ' + ' ~ qbr.quarter_value('orr')
                ~ ') * 4',
                qbr.quarter_value('employees')) }},
            '{}'::jsonb
        ),
        (
            'annual_service_rev_per_tech',
            {{ qbr.safe_divide(
                '(' ~ qbr.quarter_value('nrr') ~ ' + '
                ~ qbr.quarter_value('mrr') ~ ' + ' ~ qbr.quarter_value('orr')
                ~ ') * 4',
                qbr.quarter_value('technical_employees')) }},
            '{}'::jsonb
        ),
        (
            'avg_aisp',
            {{ qbr.safe_divide(
                qbr.quarter_value('mrr'),
                qbr.quarter_value('seats_managed') ~ ' * '
                ~ qbr.quarter_months('mrr')) }},
            '{}'::jsonb
        ),
        (
            'avg_mrr_per_agreement',
            {{ qbr.safe_divide(
                qbr.quarter_value('mrr'),
                qbr.quarter_value('agreements') ~ ' * '
                ~ qbr.quarter_months('mrr')) }},
            '{}'::jsonb
        ),
        (
            'new_mrr_added',
            {{ qbr.quarter_value('new_mrr') }},
            '{}'::jsonb
        ),
        (
            'lost_mrr',
            {{ qbr.quarter_value('lost_mrr') }},
            '{}'::jsonb
        ),
        (
            'net_mrr_gain',
            {{ qbr.quarter_value('new_mrr') }}
            - {{ qbr.quarter_value('lost_mrr') }},
            '{}'::jsonb
        ),
        (
            'dials_per_appointment',
            {{ qbr.safe_divide(
                qbr.quarter_value('telemarketing_dials'),
                qbr.quarter_value('first_time_appointments')) }},
            '{}'::jsonb
        ),
        (
            'sales_call_close_pct',
            {{ qbr.safe_divide(
                qbr.quarter_value('new_agreements'),
                qbr.quarter_value('first_time_appointments')) }},
            '{}'::jsonb
        ),
        (
            'net_revenue_retention_pct',
            q.net_revenue_retention_pct,
            jsonb_build_object(
                'start_mrr', q.start_mrr,
                'end_mrr', q.end_mrr,
                'clients_at_start', q.clients_at_start
            )
        ),
        (
            'gross_revenue_retention_pct',
            q.gross_revenue_retention_pct,
            jsonb_build_object(
                'start_mrr', q.start_mrr,
                'end_mrr_capped', q.end_mrr_capped,
                'clients_at_start', q.clients_at_start
            )
        ),
        (
            'labor_efficiency_ratio',
            {{ qbr.safe_divide(
                qbr.quarter_value('total_revenue') ~ ' - '
                ~ qbr.quarter_value('product_cogs'),
                qbr.quarter_value('employee_expense') ~ ' + '
                ~ qbr.quarter_value('owner_comp')) }},
            '{}'::jsonb
        ),
        (
            'endpoint_security_coverage_pct',
            {{ qbr.safe_divide(
                qbr.quarter_value('endpoints_with_security'),
                'q.a_endpoints_in_security_months') }},
            jsonb_build_object(
                'endpoints_managed', q.a_endpoints_in_security_months
            )
        )
    ) as formula (metric_key, value, extra_inputs)

),

dated as (

    select
        computed.*,
        periods.start_date,
        periods.is_complete,
        {{ qbr.quarter_period("periods.start_date - interval '3 months'") }}
            as previous_period,
        {{ qbr.quarter_period("periods.start_date - interval '1 year'") }}
            as year_ago_period
    from computed
    inner join periods
        on
            computed.organization_id = periods.organization_id
            and computed.period = periods.period

),

final as (

    select
        dated.organization_id,
        dated.period,
        dated.metric_key,
        definitions.metric_name,
        dated.value,
        definitions.unit,
        definitions.category,
        case
            when not dated.is_provisional
                then {{ qbr.threshold_status('dated.value', 'thresholds') }}
        end as status,
        {{ qbr.trim_numeric('dated.value - previous.value') }} as qoq_change,
        {{ qbr.trim_numeric('dated.value - year_ago.value') }} as yoy_change,
        coalesce((
            select
                jsonb_object_agg(
                    input_key, dated.quarter_values -> input_key
                )
            from unnest(string_to_array(definitions.formula_inputs, ' '))
                as input_key
        ), '{}'::jsonb) || dated.extra_inputs as inputs,
        definitions.display_order,
        dated.is_complete,
        dated.is_provisional
    from dated
    inner join definitions
        on dated.metric_key = definitions.metric_key
    left join computed as previous
        on
            dated.organization_id = previous.organization_id
            and dated.metric_key = previous.metric_key
            and dated.previous_period = previous.period
    left join computed as year_ago
        on
            dated.organization_id = year_ago.organization_id
            and dated.metric_key = year_ago.metric_key
            and dated.year_ago_period = year_ago.period
    left join thresholds
        on
            dated.organization_id = thresholds.organization_id
            and dated.metric_key = thresholds.metric_key

)

select * from final
