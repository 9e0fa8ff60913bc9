{#- ConnectWise tickets with the seed rules applied: reactive board, closed
    status, internal company. (docs block
    internal_reactive_work) -#}
{#- A table: the time entries (and through them three models and a test),
    the per-client and org-wide inputs and its key test read it; as a view
    each of them re-joined every ticket with the seeds. Its key is a unique
    index and NOT NULL (a duplicate or null fails the model): the key test
    then reads the catalog instead of re-grouping every ticket, and the
    time entries wait for it. -#}
{{
    config(
        materialized='table',
        indexes=[{'columns': ['ticket_id'], 'unique': true}],
        post_hook="{{ qbr.set_not_null(['ticket_id']) }}",
    )
}}

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

companies as (

    select * from {{ ref('stg_connectwise__companies') }}

),

internal_companies as (

    select
        organization_name,
        bool_and(coalesce(count_reactive_work, true)) as count_reactive_work
    from {{ ref('excluded_organizations') }}
    where source_system in ('connectwise', 'any')
    group by organization_name

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
        internal_companies.organization_name is not null as is_internal,
        reactive_boards.board_name is not null
        and coalesce(internal_companies.count_reactive_work, true)
            as is_reactive,
        closed_statuses.status_name is not null as has_closed_status,
        {{ qbr.reporting_month('tickets.entered_at') }} as entered_month,
        {{ qbr.reporting_month('tickets.closed_at') }} as closed_month
    from tickets
    left join reactive_boards
        on tickets.board_name = reactive_boards.board_name
    left join closed_statuses
        on tickets.status_name = closed_statuses.status_name
    left join companies
        on tickets.company_id = companies.company_id
    left join internal_companies
        on companies.company_name = internal_companies.organization_name

)

select * from classified
