{#- Time entries with their ticket's classification (reactive, company). A
    table: client_metrics_monthly's and the org-wide inputs and its key test
    read it; as a view each of them re-joined every time entry with its
    ticket. Its key is a unique index and NOT NULL (a duplicate or null fails
    the model), so the key test reads the catalog, not every entry. -#}
{{
    config(
        materialized='table',
        indexes=[{'columns': ['time_entry_id'], 'unique': true}],
        post_hook="{{ qbr.set_not_null(['time_entry_id']) }}",
    )
}}

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
