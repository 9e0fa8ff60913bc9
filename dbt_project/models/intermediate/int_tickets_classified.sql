with

tickets as (

    select * from {{ ref('stg_connectwise__tickets') }}

),

reactive_boards as (

    select * from {{ ref('reactive_boards') }}

),

closed_statuses as (

    select * from {{ ref('closed_statuses') }}

),

classified as (

    select
        tickets.ticket_id,
        tickets.record_type,
        tickets.board_id,
        tickets.board_name,
        tickets.status_name,
        tickets.company_id,
        tickets.parent_ticket_id,
        tickets.is_parent,
        tickets.entered_at,
        tickets.closed_at,
        tickets.actual_hours,
        reactive_boards.board_name is not null as is_reactive,
        closed_statuses.status_name is not null as has_closed_status,
        {{ qbr.reporting_month('tickets.entered_at') }} as entered_month,
        {{ qbr.reporting_month('tickets.closed_at') }} as closed_month
    from tickets
    left join reactive_boards
        on tickets.board_name = reactive_boards.board_name
    left join closed_statuses
        on tickets.status_name = closed_statuses.status_name

)

select * from classified
