{#- The SQL of every collected monthly input metric, in long form: one row
    per reported month and metric key where the source records something
    (a month without a row is 0 when its source covers it, null otherwise:
    metrics_monthly_collected decides that from the catalogue's
    source_group). Adding an input metric = a row in seeds/
    metric_catalogue.csv plus one `union all` branch here
    (docs/contributing/add-an-input-metric.md). -#}
with

tickets as (

    select * from {{ ref('int_tickets_classified') }}

),

time_entries as (

    select * from {{ ref('int_time_entries_classified') }}

),

device_counts as (

    select * from {{ ref('int_device_counts_monthly') }}

),

pnl as (

    select * from {{ ref('int_pnl_monthly_by_category') }}

),

agreements as (

    select * from {{ ref('int_agreements_active_monthly') }}

),

agreement_starts as (

    select * from {{ ref('int_agreements_classified') }}
    where is_managed and not is_internal

),

client_mrr as (

    select * from {{ ref('int_client_mrr_monthly') }}

),

metric_values as (

    select
        entered_month as month_start,
        'reactive_tickets_created' as metric_key,
        cast(count(*) as numeric) as metric_value
    from tickets
    where is_reactive and is_parent
    group by entered_month

    union all

    select
        closed_month as month_start,
        'reactive_tickets_closed' as metric_key,
        cast(count(*) as numeric) as metric_value
    from tickets
    where is_reactive and is_parent and has_closed_status
    group by closed_month

    union all

    select
        entered_month as month_start,
        'reactive_time_spent' as metric_key,
        cast(sum(actual_hours) as numeric) as metric_value
    from time_entries
    where is_reactive
    group by entered_month

    union all

    select
        device_counts.snapshot_month as month_start,
        counts.metric_key,
        counts.metric_value
    from device_counts
    cross join
        lateral (
            values
            (
                'endpoints_managed',
                cast(device_counts.endpoints_managed as numeric)
            ),
            ('seats_managed', cast(device_counts.seats_managed as numeric)),
            (
                'endpoints_with_security',
                cast(device_counts.endpoints_with_security as numeric)
            )
        ) as counts (metric_key, metric_value)

    union all

    select
        month_start,
        'agreements' as metric_key,
        cast(count(distinct agreement_id) as numeric) as metric_value
    from agreements
    where is_managed
    group by month_start

    union all

    select
        start_month as month_start,
        'new_agreements' as metric_key,
        cast(count(*) as numeric) as metric_value
    from agreement_starts
    group by start_month

    union all

    select
        client_mrr.month_start,
        movements.metric_key,
        movements.metric_value
    from client_mrr
    cross join
        lateral (
            values
            ('new_mrr', cast(client_mrr.new_mrr as numeric)),
            ('lost_mrr', cast(client_mrr.lost_mrr as numeric))
        ) as movements (metric_key, metric_value)

    union all

    -- the ten P&L categories (account_category_mapping.csv)
    select
        pnl_month as month_start,
        category as metric_key,
        cast(sum(amount) as numeric) as metric_value
    from pnl
    where category is not null
    group by pnl_month, category

    union all

    {%- set revenue = "('nrr', 'mrr', 'orr', 'product_sales',"
        ~ " 'misc_revenue')" %}
    {%- set expenses = "('employee_expense', 'owner_comp_taxes', 'owner_comp',"
        ~ " 'product_cogs', 'other_expenses')" %}
    select
        pnl.pnl_month as month_start,
        totals.metric_key,
        cast(sum(totals.metric_value) as numeric) as metric_value
    from pnl
    cross join
        lateral (
            values
            (
                'total_revenue',
                case when pnl.category in {{ revenue }} then pnl.amount end
            ),
            (
                'total_expenses',
                case when pnl.category in {{ expenses }} then pnl.amount end
            ),
            (
                'net_profit',
                case
                    when pnl.category in {{ revenue }} then pnl.amount
                    when pnl.category in {{ expenses }} then -pnl.amount
                end
            )
        ) as totals (metric_key, metric_value)
    group by pnl.pnl_month, totals.metric_key

)

select
    month_start,
    metric_key,
    sum(metric_value) as metric_value
from metric_values
group by month_start, metric_key
