with

source as (

    {{ qbr.select_source('connectwise', 'tickets', {
        'id': 'bigint',
        'summary': 'text',
        'record_type': 'text',
        'board__id': 'bigint',
        'board__name': 'text',
        'status__name': 'text',
        'company__id': 'bigint',
        'company__identifier': 'text',
        'parent_ticket_id': 'bigint',
        'closed_date': 'timestamptz',
        'closed_flag': 'boolean',
        'actual_hours': 'numeric',
        '_info__date_entered': 'timestamptz',
        '_info__last_updated': 'timestamptz',
        '_deleted_at': 'timestamptz',
        '_dlt_load_id': 'text',
    }) }}

),

renamed as (

    select
        id as ticket_id,
        summary,
        record_type,
        board__id as board_id,
        board__name as board_name,
        status__name as status_name,
        company__id as company_id,
        company__identifier as company_identifier,
        parent_ticket_id,
        actual_hours,
        _info__date_entered as entered_at,
        closed_date as closed_at,
        _info__last_updated as updated_at,
        _dlt_load_id as dlt_load_id,
        coalesce(closed_flag, false) as is_closed_flag,
        parent_ticket_id is null as is_parent
    from source
    where _deleted_at is null

)

select * from renamed
