{#- Each device on the NinjaOne latest-in-month snapshot, with the counting
    rules of METRICS.md: spares (display name, host name or location name
    containing the spare_pattern var, any case), the internal organization and VM
    guests never count; servers and VM hosts are endpoints but not seats.
    Security coverage: the host name is on the ThreatLocker snapshot of the
    same month. A table (not a view): three models and their tests read it, and
    as a view each of them recomputed it. Incremental on the months that
    int_device_snapshots_latest_in_month re-reads (the same lookback from the
    latest month held, or the refresh_since var), replaced whole: a month's
    flags depend only on that month's snapshots. A seed, var or rule change
    makes the refresh rebuild it in full (`--full-refresh`,
    qbr/dbt_runner.py decide_build). -#}
{{
    config(
        materialized='incremental',
        unique_key='snapshot_month',
        indexes=[{'columns': ['snapshot_month']}],
    )
}}

with

snapshots as (

    select * from {{ ref('int_device_snapshots_latest_in_month') }}
    {% if is_incremental() %}
        where snapshot_month >= {{ qbr.incremental_first_month('snapshot_month') }}
    {% endif %}

),

excluded_organizations as (

    select * from {{ ref('excluded_organizations') }}
    where source_system in ('ninjaone', 'any')

),

endpoint_excluded as (

    select * from {{ ref('endpoint_excluded_node_classes') }}

),

seat_excluded as (

    select * from {{ ref('seat_excluded_node_classes') }}

),

rmm as (

    select * from snapshots
    where vendor_name = '{{ var("rmm_vendor") }}'

),

security as (

    select distinct
        snapshot_month,
        lower(hostname) as hostname_key
    from snapshots
    where vendor_name = '{{ var("security_vendor") }}'

),

security_months as (

    select distinct snapshot_month from security

),

flagged as (

    select
        rmm.snapshot_month,
        rmm.snapshot_date,
        rmm.device_identity_id,
        rmm.vendor_device_key,
        rmm.organization_name,
        rmm.hostname,
        rmm.display_name,
        rmm.location_name,
        rmm.node_class,
        rmm.billing_status_code,
        security_months.snapshot_month is not null as has_security_snapshot,
        security.hostname_key is not null as is_security_covered,
        lower(coalesce(rmm.display_name, ''))
        like '%{{ var("spare_pattern") | lower }}%'
        or lower(coalesce(rmm.hostname, ''))
        like '%{{ var("spare_pattern") | lower }}%'
        or lower(coalesce(rmm.location_name, ''))
        like '%{{ var("spare_pattern") | lower }}%' as is_spare,
        excluded_organizations.organization_name is not null as is_internal,
        endpoint_excluded.node_class is not null as is_never_counted,
        seat_excluded.node_class is not null as is_seat_excluded
    from rmm
    left join excluded_organizations
        on rmm.organization_name = excluded_organizations.organization_name
    left join endpoint_excluded
        on rmm.node_class = endpoint_excluded.node_class
    left join seat_excluded
        on rmm.node_class = seat_excluded.node_class
    left join security_months
        on rmm.snapshot_month = security_months.snapshot_month
    left join security
        on
            rmm.snapshot_month = security.snapshot_month
            and lower(rmm.hostname) = security.hostname_key

),

counted as (

    select
        *,
        not(is_spare or is_internal or is_never_counted) as is_endpoint,
        not(is_spare or is_internal or is_never_counted or is_seat_excluded)
            as is_seat
    from flagged

)

select * from counted
