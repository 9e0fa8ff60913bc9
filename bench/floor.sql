-- The floor of the dbt build (bench/floor.py): the monthly operations numbers
-- of qbr.metrics_monthly_collected (endpoints, seats, endpoints with
-- security; reactive tickets created and closed, reactive hours) in ONE
-- hand-written statement over the raw and inventory tables, with the same
-- rules (METRICS.md; the seeds in qbr_seeds, the dbt vars' defaults for the
-- vendor names and the spare pattern). No coverage logic: it is compared on
-- the months the mart says were collected. Parameters: tz (the reporting
-- time zone) and spare (the LIKE pattern); {inventory} is the inventory
-- schema.
with

vendors as (
    select id, name
    from {inventory}.vendor
    where name in ('NinjaRMM', 'ThreatLocker')
),

months as (
    select cast(m as date) as month_start
    from
        (
            select min(snapshot_date) as lo, max(snapshot_date) as hi
            from {inventory}.device_snapshot
        ) as bounds,
        generate_series(
            date_trunc('month', bounds.lo), bounds.hi, interval '1 month'
        ) as m
),

-- each vendor's latest snapshot day in each month: one index probe a month
latest as (
    select vendors.id as vendor_id, vendors.name as vendor,
        months.month_start, day.latest
    from vendors
    cross join months
    cross join lateral (
        select max(s.snapshot_date) as latest
        from {inventory}.device_snapshot as s
        where s.vendor_id = vendors.id
            and s.snapshot_date >= months.month_start
            and s.snapshot_date
            < cast(months.month_start + interval '1 month' as date)
    ) as day
    where day.latest is not null
),

on_latest_day as (
    select latest.vendor, latest.month_start, s.device_identity_id,
        s.hostname, s.display_name, s.location_name, s.node_class,
        s.organization_name
    from latest
    inner join {inventory}.device_snapshot as s
        on s.vendor_id = latest.vendor_id and s.snapshot_date = latest.latest
),

security as (
    select distinct month_start, lower(hostname) as hostname_key
    from on_latest_day
    where vendor = 'ThreatLocker'
),

devices as (
    select d.month_start, d.device_identity_id,
        sec.hostname_key is not null as is_covered,
        not (
            lower(coalesce(d.display_name, '')) like %(spare)s
            or lower(coalesce(d.hostname, '')) like %(spare)s
            or lower(coalesce(d.location_name, '')) like %(spare)s
            or coalesce(d.organization_name in (
                select organization_name from qbr_seeds.excluded_organizations
                where source_system in ('ninjaone', 'any')
            ), false)
            or coalesce(d.node_class in (
                select node_class from qbr_seeds.endpoint_excluded_node_classes
            ), false)
        ) as is_endpoint,
        coalesce(d.node_class in (
            select node_class from qbr_seeds.seat_excluded_node_classes
        ), false) as is_seat_excluded
    from on_latest_day as d
    left join security as sec
        on sec.month_start = d.month_start
        and sec.hostname_key = lower(d.hostname)
    where d.vendor = 'NinjaRMM'
),

inventory_numbers as (
    select month_start,
        count(distinct device_identity_id) filter (where is_endpoint)
            as endpoints_managed,
        count(distinct device_identity_id)
            filter (where is_endpoint and not is_seat_excluded) as seats_managed,
        count(distinct device_identity_id)
            filter (where is_endpoint and is_covered) as endpoints_with_security
    from devices
    group by month_start
),

internal as (
    select organization_name,
        bool_and(coalesce(count_reactive_work, true)) as count_reactive_work
    from qbr_seeds.excluded_organizations
    where source_system in ('connectwise', 'any')
    group by organization_name
),

tickets as (
    select t.id,
        t.parent_ticket_id is null as is_parent,
        coalesce(t.board__name in (
            select board_name from qbr_seeds.reactive_boards
        ), false) and coalesce(i.count_reactive_work, true) as is_reactive,
        coalesce(t.status__name in (
            select status_name from qbr_seeds.closed_statuses
        ), false) as is_closed,
        cast(date_trunc('month', t._info__date_entered at time zone %(tz)s)
            as date) as entered_month,
        cast(date_trunc('month', t.closed_date at time zone %(tz)s)
            as date) as closed_month
    from raw_connectwise.tickets as t
    left join raw_connectwise.companies as c
        on c.id = t.company__id
        and c._deleted_at is null
        and not coalesce(c.deleted_flag, false)
    left join internal as i on i.organization_name = c.name
    where t._deleted_at is null
),

ticket_numbers as (
    select month_start,
        sum(created) as reactive_tickets_created,
        sum(closed) as reactive_tickets_closed
    from (
        select entered_month as month_start, 1 as created, 0 as closed
        from tickets
        where is_reactive and is_parent
        union all
        select closed_month, 0, 1
        from tickets
        where is_reactive and is_parent and is_closed
    ) as events
    group by month_start
),

time_numbers as (
    select
        cast(date_trunc('month', e.date_entered at time zone %(tz)s) as date)
            as month_start,
        sum(cast(e.actual_hours as numeric)) as reactive_time_spent
    from raw_connectwise.time_entries as e
    inner join tickets as t
        on t.id = case
            when e.charge_to_type = 'ServiceTicket'
                then coalesce(e.charge_to_id, e.ticket__id)
        end
    where e._deleted_at is null and t.is_reactive
    group by 1
)

select n.month_start, v.metric_key, v.value
from inventory_numbers as n
cross join lateral (values
    ('endpoints_managed', cast(n.endpoints_managed as numeric)),
    ('seats_managed', cast(n.seats_managed as numeric)),
    ('endpoints_with_security', cast(n.endpoints_with_security as numeric))
) as v (metric_key, value)
union all
select n.month_start, v.metric_key, v.value
from ticket_numbers as n
cross join lateral (values
    ('reactive_tickets_created', cast(n.reactive_tickets_created as numeric)),
    ('reactive_tickets_closed', cast(n.reactive_tickets_closed as numeric))
) as v (metric_key, value)
union all
select month_start, 'reactive_time_spent', reactive_time_spent
from time_numbers
