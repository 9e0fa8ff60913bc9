{#- Per client and month (METRICS.md 5), long form like metrics_monthly:
    endpoints_managed, seats_managed, reactive_tickets_created,
    reactive_tickets_closed, reactive_time_spent, tickets_per_endpoint,
    rhem, agreement_mrr, invoiced_revenue. Internal organizations and
    vendors are excluded. Values follow the source's coverage (null where
    the source does not cover the month). Devices and invoices reach a
    client through int_clients_matched. -#}
with

clients as (

    select * from {{ ref('clients') }}
    where not is_internal

),

months as (

    select * from {{ ref('int_months') }}
    where is_reported

),

coverage as (

    select * from {{ ref('int_source_coverage_monthly') }}

),

tickets as (

    select * from {{ ref('int_tickets_classified') }}

),

time_entries as (

    select * from {{ ref('int_time_entries_classified') }}

),

devices as (

    select * from {{ ref('int_devices_classified') }}

),

matched as (

    select * from {{ ref('int_clients_matched') }}

),

client_mrr as (

    select * from {{ ref('int_client_mrr_monthly') }}

),

invoices as (

    select * from {{ ref('stg_quickbooks__invoices') }}

),

definitions as (

    select * from {{ ref('metric_catalogue') }}

),

created as (

    select
        company_id,
        entered_month as month_start,
        count(*) as tickets
    from tickets
    where is_reactive and is_parent
    group by company_id, entered_month

),

closed as (

    select
        company_id,
        closed_month as month_start,
        count(*) as tickets
    from tickets
    where is_reactive and is_parent and has_closed_status
    group by company_id, closed_month

),

hours as (

    select
        company_id,
        entered_month as month_start,
        sum(actual_hours) as hours
    from time_entries
    where is_reactive
    group by company_id, entered_month

),

device_counts as (

    select
        matched.company_id,
        devices.snapshot_month as month_start,
        count(distinct devices.device_identity_id) filter (
            where devices.is_endpoint
        ) as endpoints,
        count(distinct devices.device_identity_id) filter (
            where devices.is_seat
        ) as seats
    from devices
    inner join matched
        on
            matched.source_system = 'ninjaone'
            and devices.organization_name = matched.source_key
    where matched.company_id is not null
    group by matched.company_id, devices.snapshot_month

),

invoiced as (

    select
        matched.company_id,
        invoices.invoice_month as month_start,
        sum(invoices.total_amount) as revenue
    from invoices
    inner join matched
        on
            matched.source_system = 'quickbooks'
            and invoices.customer_id = matched.source_key
    where matched.company_id is not null
    group by matched.company_id, invoices.invoice_month

),

joined as (

    select
        clients.client_id,
        clients.client_name,
        months.period,
        case
            when coverage.has_inventory
                then coalesce(device_counts.endpoints, 0)
        end as endpoints,
        case
            when coverage.has_inventory then coalesce(device_counts.seats, 0)
        end as seats,
        case
            when coverage.has_connectwise then coalesce(created.tickets, 0)
        end as reactive_tickets_created,
        case
            when coverage.has_connectwise then coalesce(closed.tickets, 0)
        end as reactive_tickets_closed,
        case
            when coverage.has_connectwise then coalesce(hours.hours, 0)
        end as reactive_hours,
        case
            when coverage.has_agreements then coalesce(client_mrr.mrr, 0)
        end as agreement_mrr,
        case
            when coverage.has_quickbooks then coalesce(invoiced.revenue, 0)
        end as invoiced_revenue
    from clients
    cross join months
    inner join coverage
        on months.month_start = coverage.month_start
    left join device_counts
        on
            clients.client_id = device_counts.company_id
            and months.month_start = device_counts.month_start
    left join created
        on
            clients.client_id = created.company_id
            and months.month_start = created.month_start
    left join closed
        on
            clients.client_id = closed.company_id
            and months.month_start = closed.month_start
    left join hours
        on
            clients.client_id = hours.company_id
            and months.month_start = hours.month_start
    left join client_mrr
        on
            clients.client_id = client_mrr.company_id
            and months.month_start = client_mrr.month_start
    left join invoiced
        on
            clients.client_id = invoiced.company_id
            and months.month_start = invoiced.month_start

),

long_form as (

    select
        joined.period,
        joined.client_id,
        joined.client_name,
        metric.metric_key,
        metric.value
    from joined
    cross join lateral (
        values
        ('endpoints_managed', cast(joined.endpoints as numeric)),
        ('seats_managed', cast(joined.seats as numeric)),
        (
            'reactive_tickets_created',
            cast(joined.reactive_tickets_created as numeric)
        ),
        (
            'reactive_tickets_closed',
            cast(joined.reactive_tickets_closed as numeric)
        ),
        ('reactive_time_spent', joined.reactive_hours),
        (
            'tickets_per_endpoint',
            {{ qbr.safe_divide(
                'joined.reactive_tickets_created', 'joined.endpoints') }}
        ),
        (
            'rhem',
            {{ qbr.safe_divide('joined.reactive_hours', 'joined.endpoints') }}
        ),
        ('agreement_mrr', joined.agreement_mrr),
        ('invoiced_revenue', joined.invoiced_revenue)
    ) as metric (metric_key, value)

),

final as (

    select
        {{ var('organization_id') }} as organization_id,
        long_form.period,
        long_form.client_id,
        long_form.client_name,
        long_form.metric_key,
        definitions.metric_name,
        {{ qbr.trim_numeric('long_form.value') }} as value,
        definitions.unit,
        definitions.category,
        definitions.source
    from long_form
    left join definitions
        on long_form.metric_key = definitions.metric_key

)

select * from final
