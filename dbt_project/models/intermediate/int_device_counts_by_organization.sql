{#- Endpoints, seats and ThreatLocker-covered endpoints per NinjaOne
    organization and month: distinct devices of int_devices_classified.
    A device has one row a month there (one vendor, one latest snapshot), so
    it is in exactly one organization a month: the org-wide counts
    (int_device_counts_monthly) and a client's (its matched organizations,
    int_client_input_metrics_monthly) are sums of these rows, equal to a
    distinct count over the devices. Incremental on the months
    int_devices_classified replaces (the same first month), replaced whole:
    a month's counts depend only on that month's devices. A daily build
    counts a month or two instead of re-sorting every device-month. -#}
{{
    config(
        materialized='incremental',
        unique_key='snapshot_month',
    )
}}

with

devices as (

    select * from {{ ref('int_devices_classified') }}
    {% if is_incremental() %}
        where snapshot_month >= {{ qbr.incremental_first_month('snapshot_month') }}
    {% endif %}

),

counted as (

    select
        snapshot_month,
        organization_name,
        bool_or(has_security_snapshot) as has_security_snapshot,
        count(distinct device_identity_id) filter (
            where is_endpoint
        ) as endpoints_managed,
        count(distinct device_identity_id) filter (
            where is_seat
        ) as seats_managed,
        count(distinct device_identity_id) filter (
            where is_endpoint and is_security_covered
        ) as endpoints_with_security
    from devices
    group by snapshot_month, organization_name

)

select * from counted
