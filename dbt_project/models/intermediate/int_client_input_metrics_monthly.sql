{#- The SQL of every per-client monthly input (METRICS.md 5), in long form:
    one row per ConnectWise company, month and metric key where the source
    records something. client_metrics_monthly turns a missing row into 0 or
    null by the catalogue's source_group. Devices and invoices reach a
    client through int_clients_matched. -#}
with

tickets as (

    select * from {{ ref('int_tickets_classified') }}

),

time_entries as (

    select * from {{ ref('int_time_entries_classified') }}

),

device_counts_by_organization as (

    select * from {{ ref('int_device_counts_by_organization') }}

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

{# A client's devices are those of its matched organizations; a device is
    in one organization a month, so the distinct counts are the sums of the
    per-organization counts (int_device_counts_by_organization). #}
device_counts as (

    select
        matched.company_id,
        by_organization.snapshot_month,
        sum(by_organization.endpoints_managed) as endpoints,
        sum(by_organization.seats_managed) as seats
    from device_counts_by_organization as by_organization
    inner join matched
        on
            matched.source_system = 'ninjaone'
            and by_organization.organization_name = matched.source_key
    group by matched.company_id, by_organization.snapshot_month

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
        device_counts.company_id,
        device_counts.snapshot_month as month_start,
        counted.metric_key,
        cast(counted.metric_value as numeric) as metric_value
    from device_counts
    cross join
        lateral (
            values
            ('endpoints_managed', device_counts.endpoints),
            ('seats_managed', device_counts.seats)
        ) as counted (metric_key, metric_value)

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
