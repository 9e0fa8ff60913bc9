{#- Indexes for the API's look-ups (period / key / client). -#}
{{ config(indexes=[{'columns': ['client_id', 'period']}]) }}

{#- Per client and month (METRICS.md 5), long form like metrics_monthly:
    endpoints_managed, seats_managed, reactive_tickets_created,
    reactive_tickets_closed, reactive_time_spent, tickets_per_endpoint,
    rhem, agreement_mrr, invoiced_revenue. Internal organizations and
    vendors are excluded. Values follow the source's coverage (null where
    the source does not cover the month). Devices and invoices reach a
    client through int_clients_matched. The inputs come from
    int_client_input_metrics_monthly, which metrics and their coverage
    group from the metric catalogue (per_client, source_group); only the
    two per-client ratios are computed here. -#}
with

clients as (

    select * from {{ ref('clients') }}
    where not is_internal

),

months as (

    select * from {{ ref('int_months') }}
    where is_reported

),

group_coverage as (

    select * from {{ ref('int_source_group_coverage_monthly') }}

),

client_values as (

    select * from {{ ref('int_client_input_metrics_monthly') }}

),

definitions as (

    select * from {{ ref('metric_catalogue') }}

),

collected as (

    select
        clients.client_id,
        clients.client_name,
        months.period,
        definitions.metric_key,
        case
            when group_coverage.is_covered
                then coalesce(client_values.metric_value, 0)
        end as metric_value
    from clients
    cross join months
    inner join definitions
        on
            cast(definitions.per_client as boolean)
            and definitions.source_group is not null
    inner join group_coverage
        on
            months.month_start = group_coverage.month_start
            and definitions.source_group = group_coverage.source_group
    left join client_values
        on
            clients.client_id = client_values.company_id
            and months.month_start = client_values.month_start
            and definitions.metric_key = client_values.metric_key

),

ratio_parts as (

    select
        client_id,
        client_name,
        period,
        max(metric_value) filter (
            where metric_key = 'reactive_tickets_created'
        ) as reactive_tickets_created,
        max(metric_value) filter (
            where metric_key = 'reactive_time_spent'
        ) as reactive_time_spent,
        max(metric_value) filter (
            where metric_key = 'endpoints_managed'
        ) as endpoints_managed
    from collected
    group by client_id, client_name, period

),

ratios as (

    select
        ratio_parts.client_id,
        ratio_parts.client_name,
        ratio_parts.period,
        ratio.metric_key,
        ratio.metric_value
    from ratio_parts
    cross join lateral (
        values
        (
            'tickets_per_endpoint',
            {{ qbr.safe_divide(
                'ratio_parts.reactive_tickets_created',
                'ratio_parts.endpoints_managed') }}
        ),
        (
            'rhem',
            {{ qbr.safe_divide(
                'ratio_parts.reactive_time_spent',
                'ratio_parts.endpoints_managed') }}
        )
    ) as ratio (metric_key, metric_value)

),

long_form as (

    select * from collected
    union all
    select * from ratios

),

final as (

    select
        {{ var('organization_id') }} as organization_id,
        long_form.period,
        long_form.client_id,
        long_form.client_name,
        long_form.metric_key,
        definitions.metric_name,
        {{ qbr.trim_numeric('long_form.metric_value') }} as value,
        definitions.unit,
        definitions.category,
        definitions.source
    from long_form
    left join definitions
        on long_form.metric_key = definitions.metric_key

)

select * from final
