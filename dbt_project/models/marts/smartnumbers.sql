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

    select * from {{ ref('metrics_quarterly') }}

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

    select
        organization_id,
        period,
        {%- for key in [
            'reactive_tickets_created', 'reactive_tickets_closed',
            'reactive_time_spent', 'net_profit', 'total_revenue', 'nrr',
            'mrr', 'orr', 'new_mrr', 'lost_mrr', 'telemarketing_dials',
            'first_time_appointments', 'new_agreements', 'product_cogs',
            'employee_expense', 'owner_comp'] %}
            max(value) filter (where metric_key = '{{ key }}') as s_{{ key }},
        {%- endfor %}
        {%- for key in [
            'reactive_tickets_created', 'reactive_tickets_closed',
            'reactive_time_spent', 'mrr'] %}
            max(months_with_value) filter (
                where metric_key = '{{ key }}'
            ) as n_{{ key }},
        {%- endfor %}
        {%- for key in [
            'technical_employees', 'employees', 'endpoints_managed',
            'seats_managed', 'agreements', 'endpoints_with_security'] %}
        max(value) filter (where metric_key = '{{ key }}') as a_{{ key }}
        {{- ',' if not loop.last }}
    {%- endfor %}
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
        -- months per quarter for "/ 3": 3, or while in progress the
        -- months that have data (null when none has)
        {%- for key in [
            'reactive_tickets_created', 'reactive_tickets_closed',
            'reactive_time_spent', 'mrr'] %}
            case
                when periods.is_in_progress
                    then nullif(quarter_parts.n_{{ key }}, 0)
                else 3
            end as m_{{ key }},
        {%- endfor %}
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

    select
        q.organization_id,
        q.period,
        formula.metric_key,
        {{ qbr.trim_numeric('cast(formula.value as numeric)') }} as value,
        formula.inputs,
        coalesce(q.is_provisional, false) as is_provisional
    from q
    cross join lateral (
        values
        (
            'tickets_per_tech_per_month',
            {{ qbr.safe_divide(
                'q.s_reactive_tickets_closed',
                'q.a_technical_employees * q.m_reactive_tickets_closed') }},
            jsonb_build_object(
                'reactive_tickets_closed', q.s_reactive_tickets_closed,
                'technical_employees', q.a_technical_employees
            )
        ),
        (
            'total_close_pct',
            {{ qbr.safe_divide(
                'q.s_reactive_tickets_closed',
                'q.s_reactive_tickets_created') }},
            jsonb_build_object(
                'reactive_tickets_closed', q.s_reactive_tickets_closed,
                'reactive_tickets_created', q.s_reactive_tickets_created
            )
        ),
        (
            'tickets_per_endpoint_per_month',
            {{ qbr.safe_divide(
                'q.s_reactive_tickets_created',
                'q.m_reactive_tickets_created * q.a_endpoints_managed') }},
            jsonb_build_object(
                'reactive_tickets_created', q.s_reactive_tickets_created,
                'endpoints_managed', q.a_endpoints_managed
            )
        ),
        (
            'rhem',
            {{ qbr.safe_divide(
                'q.s_reactive_time_spent',
                'q.a_endpoints_managed * q.m_reactive_time_spent') }},
            jsonb_build_object(
                'reactive_time_spent', q.s_reactive_time_spent,
                'endpoints_managed', q.a_endpoints_managed
            )
        ),
        (
            'avg_resolution_time',
            {{ qbr.safe_divide(
                'q.s_reactive_time_spent',
                'q.s_reactive_tickets_closed') }},
            jsonb_build_object(
                'reactive_time_spent', q.s_reactive_time_spent,
                'reactive_tickets_closed', q.s_reactive_tickets_closed
            )
        ),
        (
            'reactive_service_pct',
            {{ qbr.safe_divide(
                'q.s_reactive_time_spent / q.m_reactive_time_spent',
                'q.a_technical_employees * '
                ~ var('working_hours_per_tech_month')) }},
            jsonb_build_object(
                'reactive_time_spent', q.s_reactive_time_spent,
                'technical_employees', q.a_technical_employees,
                'working_hours_per_tech_month',
                {{ var('working_hours_per_tech_month') }}
            )
        ),
        (
            'net_profit_pct',
            {{ qbr.safe_divide(
                'q.s_net_profit',
                'q.s_total_revenue') }},
            jsonb_build_object(
                'net_profit', q.s_net_profit,
                'total_revenue', q.s_total_revenue
            )
        ),
        (
            'revenue_from_services_pct',
            {{ qbr.safe_divide(
                'q.s_nrr + q.s_mrr',
                'q.s_total_revenue') }},
            jsonb_build_object(
                'nrr', q.s_nrr,
                'mrr', q.s_mrr,
                'total_revenue', q.s_total_revenue
            )
        ),
        (
            'services_from_mrr_pct',
            {{ qbr.safe_divide(
                'q.s_mrr',
                'q.s_nrr + q.s_mrr') }},
            jsonb_build_object(
                'nrr', q.s_nrr,
                'mrr', q.s_mrr
            )
        ),
        (
            'annual_service_rev_per_employee',
            {{ qbr.safe_divide(
                '(q.s_nrr + q.s_mrr + q.s_orr) * 4',
                'q.a_employees') }},
            jsonb_build_object(
                'nrr', q.s_nrr,
                'mrr', q.s_mrr,
                'orr', q.s_orr,
                'employees', q.a_employees
            )
        ),
        (
            'annual_service_rev_per_tech',
            {{ qbr.safe_divide(
                '(q.s_nrr + q.s_mrr + q.s_orr) * 4',
                'q.a_technical_employees') }},
            jsonb_build_object(
                'nrr', q.s_nrr,
                'mrr', q.s_mrr,
                'orr', q.s_orr,
                'technical_employees', q.a_technical_employees
            )
        ),
        (
            'avg_aisp',
            {{ qbr.safe_divide(
                'q.s_mrr',
                'q.a_seats_managed * q.m_mrr') }},
            jsonb_build_object(
                'mrr', q.s_mrr,
                'seats_managed', q.a_seats_managed
            )
        ),
        (
            'avg_mrr_per_agreement',
            {{ qbr.safe_divide(
                'q.s_mrr',
                'q.a_agreements * q.m_mrr') }},
            jsonb_build_object(
                'mrr', q.s_mrr,
                'agreements', q.a_agreements
            )
        ),
        (
            'new_mrr_added',
            q.s_new_mrr,
            jsonb_build_object(
                'new_mrr', q.s_new_mrr
            )
        ),
        (
            'lost_mrr',
            q.s_lost_mrr,
            jsonb_build_object(
                'lost_mrr', q.s_lost_mrr
            )
        ),
        (
            'net_mrr_gain',
            q.s_new_mrr - q.s_lost_mrr,
            jsonb_build_object(
                'new_mrr', q.s_new_mrr,
                'lost_mrr', q.s_lost_mrr
            )
        ),
        (
            'dials_per_appointment',
            {{ qbr.safe_divide(
                'q.s_telemarketing_dials',
                'q.s_first_time_appointments') }},
            jsonb_build_object(
                'telemarketing_dials', q.s_telemarketing_dials,
                'first_time_appointments', q.s_first_time_appointments
            )
        ),
        (
            'sales_call_close_pct',
            {{ qbr.safe_divide(
                'q.s_new_agreements',
                'q.s_first_time_appointments') }},
            jsonb_build_object(
                'new_agreements', q.s_new_agreements,
                'first_time_appointments', q.s_first_time_appointments
            )
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
                'q.s_total_revenue - q.s_product_cogs',
                'q.s_employee_expense + q.s_owner_comp') }},
            jsonb_build_object(
                'total_revenue', q.s_total_revenue,
                'product_cogs', q.s_product_cogs,
                'employee_expense', q.s_employee_expense,
                'owner_comp', q.s_owner_comp
            )
        ),
        (
            'endpoint_security_coverage_pct',
            {{ qbr.safe_divide(
                'q.a_endpoints_with_security',
                'q.a_endpoints_in_security_months') }},
            jsonb_build_object(
                'endpoints_with_security', q.a_endpoints_with_security,
                'endpoints_managed', q.a_endpoints_in_security_months
            )
        )
    ) as formula (metric_key, value, inputs)

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
        dated.inputs,
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
