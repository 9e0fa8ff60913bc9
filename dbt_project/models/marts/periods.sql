with

spine as (

    {{ qbr.month_spine(var('history_start')) }}

),

months as (

    select
        to_char(month_start, 'YYYY-MM') as period,
        'monthly' as period_type,
        month_start as start_date,
        (month_start + interval '1 month' - interval '1 day')::date as end_date,
        (
            month_start::timestamp
            at time zone '{{ var("reporting_timezone") }}'
        ) as starts_at,
        (
            (month_start + interval '1 month')::timestamp
            at time zone '{{ var("reporting_timezone") }}'
        ) as ends_at
    from spine

),

flagged as (

    select
        {{ var('organization_id') }} as organization_id,
        period,
        period_type,
        start_date,
        end_date,
        starts_at,
        ends_at,
        ends_at <= now() as is_complete,
        ends_at > now() as is_in_progress
    from months

)

select * from flagged
