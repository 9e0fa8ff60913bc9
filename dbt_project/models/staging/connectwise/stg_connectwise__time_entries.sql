with

source as (

    {{ qbr.select_source('connectwise', 'time_entries', {
        'id': 'bigint',
        'company__id': 'bigint',
        'charge_to_id': 'bigint',
        'charge_to_type': 'text',
        'member__id': 'bigint',
        'time_start': 'timestamptz',
        'time_end': 'timestamptz',
        'actual_hours': 'numeric',
        'hours_billed': 'numeric',
        'billable_option': 'text',
        'date_entered': 'timestamptz',
        'ticket__id': 'bigint',
        'agreement__id': 'bigint',
        '_info__last_updated': 'timestamptz',
        '_deleted_at': 'timestamptz',
        '_dlt_load_id': 'text',
    }) }}

),

renamed as (

    select
        id as time_entry_id,
        company__id as company_id,
        charge_to_id,
        charge_to_type,
        member__id as member_id,
        ticket__id as ticket_ref_id,
        agreement__id as agreement_id,
        time_start as started_at,
        time_end as ended_at,
        actual_hours,
        hours_billed,
        billable_option,
        date_entered as entered_at,
        _info__last_updated as updated_at,
        _deleted_at as deleted_at,
        _dlt_load_id as dlt_load_id,
        _deleted_at is not null as is_deleted,
        case
            when charge_to_type = 'ServiceTicket'
                then coalesce(charge_to_id, ticket__id)
        end as service_ticket_id
    from source

)

select * from renamed
