{#- The SQL of every per-client monthly input (METRICS.md 5), in long form:
    one row per ConnectWise company, month and metric key where the source
    records something. client_metrics_monthly turns a missing row into 0 or
    null by the catalogue's source_group. Devices and invoices reach a
    client through int_clients_matched. The inputs that do not come from the
    devices are the table int_client_activity_metrics_monthly (built beside
    the device models); the device counts are added here. Each part has one
    row per company, month and key, and their keys differ, so this union is
    already what grouping the two and summing would give. -#}
with

activity as (

    select * from {{ ref('int_client_activity_metrics_monthly') }}

),

device_counts_by_organization as (

    select * from {{ ref('int_device_counts_by_organization') }}

),

matched as (

    select * from {{ ref('int_clients_matched') }}
    where company_id is not null

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

)

select
    company_id,
    month_start,
    metric_key,
    metric_value
from activity

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
