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

    select * from {{ ref('stg_connectwise__tickets') }}

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

snapshots as (

    select * from {{ ref('int_device_snapshots_latest_in_month') }}

),

agreements_start as (

    select cast(date_trunc('month', min(start_date)) as date) as first_month
    from agreements
    where start_date is not null

),

present as (

    select distinct
        'connectwise' as source_group,
        {{ qbr.reporting_month('entered_at') }} as month_start
    from tickets
    where entered_at is not null
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
    select distinct
        'inventory' as source_group,
        snapshot_month as month_start
    from snapshots
    where vendor_name = '{{ var("rmm_vendor") }}'
    union
    select distinct
        'security_inventory' as source_group,
        snapshot_month as month_start
    from snapshots
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
