with

source as (

    select * from {{ source('connectwise', 'tickets') }}

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
        parent_ticket_id,
        closed_flag as is_closed_flag,
        actual_hours,
        _info__date_entered as entered_at,
        closed_date as closed_at,
        _info__last_updated as updated_at,
        parent_ticket_id is null as is_parent
    from source
    where _deleted_at is null

)

select * from renamed
