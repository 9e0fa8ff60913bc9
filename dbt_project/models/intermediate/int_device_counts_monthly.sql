{#- Endpoints, seats and ThreatLocker-covered endpoints per month: distinct
    devices on the month's latest NinjaOne snapshot, by the flags of
    int_devices_classified (never a count of device-days). -#}
with

devices as (

    select * from {{ ref('int_devices_classified') }}

),

counted as (

    select
        snapshot_month,
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
    group by snapshot_month

)

select * from counted
