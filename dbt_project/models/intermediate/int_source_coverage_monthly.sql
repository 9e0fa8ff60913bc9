{#- Which source covers which month (null vs 0, METRICS.md conventions): a
    month is covered from the source's first month of data up to the
    current month, once the source has loaded at all. A covered month with
    no records is a true 0; an uncovered month is null. ThreatLocker is
    covered only in months that have ThreatLocker snapshots. -#}
with

months as (

    select * from {{ ref('int_months') }}

),

tickets as (

    select * from {{ ref('stg_connectwise__tickets') }}

),

time_entries as (

    select * from {{ ref('int_time_entries_bucketed') }}

),

pnl as (

    select * from {{ ref('stg_quickbooks__profit_and_loss') }}

),

snapshots as (

    select * from {{ ref('int_device_snapshots_latest_in_month') }}

),

connectwise_start as (

    select min(first_month) as first_month
    from (
        select min({{ qbr.reporting_month('entered_at') }}) as first_month
        from tickets
        union all
        select min(entered_month) as first_month
        from time_entries
    ) as firsts

),

quickbooks_start as (

    select min(pnl_month) as first_month
    from pnl

),

inventory_months as (

    select distinct snapshot_month
    from snapshots
    where vendor_name = '{{ var("rmm_vendor") }}'

),

security_months as (

    select distinct snapshot_month
    from snapshots
    where vendor_name = '{{ var("security_vendor") }}'

),

coverage as (

    select
        months.month_start,
        months.period,
        coalesce(
            months.month_start >= connectwise_start.first_month, false
        ) as has_connectwise,
        coalesce(
            months.month_start >= quickbooks_start.first_month, false
        ) as has_quickbooks,
        inventory_months.snapshot_month is not null as has_inventory,
        security_months.snapshot_month is not null as has_security_inventory
    from months
    cross join connectwise_start
    cross join quickbooks_start
    left join inventory_months
        on months.month_start = inventory_months.snapshot_month
    left join security_months
        on months.month_start = security_months.snapshot_month

)

select * from coverage
