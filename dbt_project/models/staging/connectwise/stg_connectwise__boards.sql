with

source as (

    {{ qbr.select_source('connectwise', 'boards', {
        'id': 'bigint',
        'name': 'text',
        'inactive_flag': 'boolean',
        'project_flag': 'boolean',
        '_deleted_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        id as board_id,
        name as board_name,
        coalesce(inactive_flag, false) as is_inactive,
        coalesce(project_flag, false) as is_project_board
    from source
    where _deleted_at is null

)

select * from renamed
