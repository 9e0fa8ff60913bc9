{#- Which source covers which month (null vs 0, METRICS.md conventions),
    and why not where it does not. (docs block source_coverage)

    A month is covered by a source only when that source's data for the
    month is actually present:
    - connectwise (tickets, time): a ticket entered or a time entry dated in
      the month;
    - agreements: from the month the earliest agreement starts (agreement
      positions are history held in start/end dates, so they are known
      before the first ticket);
    - quickbooks: a P&L row for the month (a gap inside the loaded range, or
      a month after the last Desktop import, is not covered);
    - inventory / security_inventory: a NinjaRMM / ThreatLocker snapshot in
      the month.
    A covered month with no matching records is a true 0; an uncovered one
    is null, and <source>_reason says why: not_loaded, before_first_month,
    missing_month (inside the loaded range) or after_last_month.

    A table: five models and its data tests read it, and as a view each of
    them recomputed it over the raw tables. -#}
{{ config(materialized='table') }}

with

months as (

    select * from {{ ref('int_months') }}

),

tickets as (

    select * from {{ ref('int_tickets_classified') }}

),

time_entries as (

    select * from {{ ref('int_time_entries_bucketed') }}

),

agreements as (

    select * from {{ ref('stg_connectwise__agreements') }}

),

pnl as (

    select * from {{ ref('stg_quickbooks__profit_and_loss') }}

),

vendors as (

    select * from {{ ref('stg_inventory__vendors') }}

),

{# A vendor's months: one index look-up per month and vendor (the index on
    (snapshot_month, vendor_id)) instead of reading every device-month.
    int_device_snapshots_latest_in_month is named in each subquery: a CTE
    read twice is materialized whole. #}
snapshot_range as (

    select
        min(snapshot_month) as first_month,
        max(snapshot_month) as last_month
    from {{ ref('int_device_snapshots_latest_in_month') }}

),

snapshot_months as (

    select
        vendors.vendor_name,
        cast(series.month_start as date) as month_start
    from snapshot_range
    cross join
        lateral generate_series(
            snapshot_range.first_month,
            snapshot_range.last_month,
            interval '1 month'
        ) as series (month_start)
    cross join vendors
    where
        vendors.vendor_name in (
            '{{ var("rmm_vendor") }}', '{{ var("security_vendor") }}'
        )
        and exists (
            select 1
            from {{ ref('int_device_snapshots_latest_in_month') }} as in_month
            where
                in_month.snapshot_month = series.month_start
                and in_month.vendor_id = vendors.vendor_id
        )

),

agreements_start as (

    select cast(date_trunc('month', min(start_date)) as date) as first_month
    from agreements
    where start_date is not null

),

present as (

    select distinct
        'connectwise' as source_group,
        entered_month as month_start
    from tickets
    where entered_month is not null
    union
    select distinct
        'connectwise' as source_group,
        entered_month as month_start
    from time_entries
    where entered_month is not null
    union
    select distinct
        'quickbooks' as source_group,
        pnl_month as month_start
    from pnl
    where pnl_month is not null
    union
    select
        'inventory' as source_group,
        month_start
    from snapshot_months
    where vendor_name = '{{ var("rmm_vendor") }}'
    union
    select
        'security_inventory' as source_group,
        month_start
    from snapshot_months
    where vendor_name = '{{ var("security_vendor") }}'
    union
    select
        'agreements' as source_group,
        months.month_start
    from months
    inner join agreements_start
        on months.month_start >= agreements_start.first_month

),

bounds as (

    select
        source_group,
        min(month_start) as first_month,
        max(month_start) as last_month
    from present
    group by source_group

),

groups as (

    select source_group
    from (
        values
        ('connectwise'),
        ('agreements'),
        ('quickbooks'),
        ('inventory'),
        ('security_inventory')
    ) as known (source_group)

),

per_group as (

    select
        months.month_start,
        groups.source_group,
        present.month_start is not null as is_covered,
        case
            when present.month_start is not null then 'covered'
            when bounds.first_month is null then 'not_loaded'
            when months.month_start < bounds.first_month
                then 'before_first_month'
            when months.month_start > bounds.last_month
                then 'after_last_month'
            else 'missing_month'
        end as reason
    from months
    cross join groups
    left join present
        on
            months.month_start = present.month_start
            and groups.source_group = present.source_group
    left join bounds
        on groups.source_group = bounds.source_group

),

coverage as (

    select
        {%- for group in [
            'connectwise', 'agreements', 'quickbooks', 'inventory',
            'security_inventory'] %}
            bool_or(per_group.is_covered) filter (
                where per_group.source_group = '{{ group }}'
            ) as has_{{ group }},
            max(per_group.reason) filter (
                where per_group.source_group = '{{ group }}'
            ) as {{ group }}_reason,
        {%- endfor %}
        months.month_start,
        months.period
    from months
    inner join per_group
        on months.month_start = per_group.month_start
    group by months.month_start, months.period

)

select * from coverage
