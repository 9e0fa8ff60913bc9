{#- Every quarterly period lists three months, and each month that has
    started is itself a monthly period. -#}
{% test quarter_months_are_periods(model) %}

with

quarters as (

    select * from {{ model }}
    where period_type = 'quarterly'

),

monthly as (

    select * from {{ model }}
    where period_type = 'monthly'

),

quarter_months as (

    select
        quarters.organization_id,
        quarters.period,
        quarter_month.month_period
    from quarters
    cross join lateral unnest(quarters.months) as quarter_month (month_period)

)

select
    quarters.period,
    'not three months' as problem
from quarters
where cardinality(quarters.months) <> 3
union all
select
    quarter_months.period,
    'month ' || quarter_months.month_period || ' missing' as problem
from quarter_months
left join monthly
    on
        quarter_months.organization_id = monthly.organization_id
        and quarter_months.month_period = monthly.period
where
    monthly.period is null
    and quarter_months.month_period >= '{{ var("history_start") }}'
    and quarter_months.month_period <= (
        select max(last_month.period) from monthly as last_month
    )

{% endtest %}
