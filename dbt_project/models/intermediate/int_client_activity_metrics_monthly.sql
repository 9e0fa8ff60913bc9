{#- The per-client monthly inputs (METRICS.md 5) that do not come from the
    device inventory, in long form: reactive tickets created and closed,
    reactive time, agreement MRR and invoiced revenue, one row per
    ConnectWise company, month and metric key where the source records
    something. Invoices reach a client through int_clients_matched. A table,
    built while the device models run (it does not wait for them):
    int_client_input_metrics_monthly adds the device counts to it. -#}
{{ config(materialized='table') }}

with

tickets as (

    select * from {{ ref('int_tickets_classified') }}

),

time_entries as (

    select * from {{ ref('int_time_entries_classified') }}

),

matched as (

    select * from {{ ref('int_clients_matched') }}
    where company_id is not null

),

client_mrr as (

    select * from {{ ref('int_client_mrr_monthly') }}

),

invoices as (

    select * from {{ ref('stg_quickbooks__invoices') }}

),

metric_values as (

    select
        company_id,
        entered_month as month_start,
        'reactive_tickets_created' as metric_key,
        cast(count(*) as numeric) as metric_value
    from tickets
    where is_reactive and is_parent
    group by company_id, entered_month

    union all

    select
        company_id,
        closed_month as month_start,
        'reactive_tickets_closed' as metric_key,
        cast(count(*) as numeric) as metric_value
    from tickets
    where is_reactive and is_parent and has_closed_status
    group by company_id, closed_month

    union all

    select
        company_id,
        entered_month as month_start,
        'reactive_time_spent' as metric_key,
        cast(sum(actual_hours) as numeric) as metric_value
    from time_entries
    where is_reactive
    group by company_id, entered_month

    union all

    select
        company_id,
        month_start,
        'agreement_mrr' as metric_key,
        cast(mrr as numeric) as metric_value
    from client_mrr

    union all

    select
        matched.company_id,
        invoices.invoice_month as month_start,
        'invoiced_revenue' as metric_key,
        cast(sum(invoices.total_amount) as numeric) as metric_value
    from invoices
    inner join matched
        on
            matched.source_system = 'quickbooks'
            and invoices.customer_id = matched.source_key
    group by matched.company_id, invoices.invoice_month

)

select
    company_id,
    month_start,
    metric_key,
    sum(metric_value) as metric_value
from metric_values
group by company_id, month_start, metric_key
