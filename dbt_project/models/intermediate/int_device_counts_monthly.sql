{#- Endpoints, seats and ThreatLocker-covered endpoints per month: distinct
    devices on the month's latest NinjaOne snapshot, by the flags of
    int_devices_classified (never a count of device-days). Summed from
    int_device_counts_by_organization (a device is in one organization a
    month), so no build re-counts every device-month. -#}
with

by_organization as (

    select * from {{ ref('int_device_counts_by_organization') }}

),

summed as (

    select
        snapshot_month,
        bool_or(has_security_snapshot) as has_security_snapshot,
        sum(endpoints_managed) as endpoints_managed,
        sum(seats_managed) as seats_managed,
        sum(endpoints_with_security) as endpoints_with_security
    from by_organization
    group by snapshot_month

),

counted as (

    select
        snapshot_month,
        has_security_snapshot,
        cast(endpoints_managed as bigint) as endpoints_managed,
        cast(seats_managed as bigint) as seats_managed,
        cast(endpoints_with_security as bigint) as endpoints_with_security
    from summed

)

select * from counted
