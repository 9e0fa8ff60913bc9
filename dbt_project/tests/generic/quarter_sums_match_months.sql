{#- For every metric whose quarterly rule is sum, the quarter's value
    equals the sum of its months in metrics_monthly (METRICS.md: sums over a
    quarter). -#}
{% test quarter_sums_match_months(model) %}

with

quarterly as (

    select * from {{ model }}
    where quarterly_rule = 'sum'

),

monthly as (

    select * from {{ ref('metrics_monthly') }}

),

monthly_sums as (

    select
        organization_id,
        {{ qbr.quarter_period("to_date(period, 'YYYY-MM')") }} as period,
        metric_key,
        sum(value) as value
    from monthly
    group by
        organization_id,
        {{ qbr.quarter_period("to_date(period, 'YYYY-MM')") }},
        metric_key

)

select
    quarterly.organization_id,
    quarterly.period,
    quarterly.metric_key,
    quarterly.value as quarter_value,
    monthly_sums.value as sum_of_months
from quarterly
left join monthly_sums
    on
        quarterly.organization_id = monthly_sums.organization_id
        and quarterly.period = monthly_sums.period
        and quarterly.metric_key = monthly_sums.metric_key
where
    quarterly.value is distinct from monthly_sums.value
    and (
        quarterly.value is null
        or monthly_sums.value is null
        or abs(quarterly.value - monthly_sums.value) > 0.000001
    )

{% endtest %}
