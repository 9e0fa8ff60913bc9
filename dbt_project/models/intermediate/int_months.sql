{#- The month spine: from one month before the history start (so movements
    of the first month have a previous month) to the current month in the
    reporting time zone, with local bounds. `as_of_date` is the day month-end
    positions (agreements, MRR) are read on: the month's last day, also for
    the month in progress (agreements already known to end later in it are
    counted as they will stand at month end). -#}
with

spine as (

    {{ qbr.month_spine(var('history_start')) }}

),

previous_month as (

    select
        cast(
            to_date('{{ var("history_start") }}', 'YYYY-MM')
            - interval '1 month' as date
        ) as month_start

),

all_months as (

    select month_start from previous_month
    union all
    select month_start from spine

),

bounded as (

    select
        month_start,
        cast(
            month_start + interval '1 month' - interval '1 day' as date
        ) as month_end,
        {{ qbr.local_midnight('month_start') }} as starts_at,
        {{ qbr.local_midnight("month_start + interval '1 month'") }} as ends_at,
        {{ qbr.month_period('month_start') }} as period,
        {{ qbr.quarter_period('month_start') }} as quarter_period,
        month_start >= to_date(
            '{{ var("history_start") }}', 'YYYY-MM'
        ) as is_reported
    from all_months

),

dated as (

    select
        *,
        month_end as as_of_date,
        ends_at <= now() as is_complete,
        month_start = {{ qbr.reporting_current_month() }} as is_in_progress
    from bounded

)

select * from dated
