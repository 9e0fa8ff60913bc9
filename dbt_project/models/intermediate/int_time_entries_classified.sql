with

time_entries as (

    select * from {{ ref('int_time_entries_bucketed') }}

),

tickets as (

    select * from {{ ref('int_tickets_classified') }}

),

classified as (

    select
        time_entries.time_entry_id,
        time_entries.service_ticket_id,
        time_entries.entered_at,
        time_entries.entered_month,
        time_entries.actual_hours,
        tickets.is_parent as is_parent_ticket,
        coalesce(tickets.company_id, time_entries.company_id) as company_id,
        coalesce(tickets.is_reactive, false) as is_reactive
    from time_entries
    left join tickets
        on time_entries.service_ticket_id = tickets.ticket_id
    where not time_entries.is_deleted

)

select * from classified
