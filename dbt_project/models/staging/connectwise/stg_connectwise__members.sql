with

source as (

    {{ qbr.select_source('connectwise', 'members', {
        'id': 'bigint',
        'identifier': 'text',
        'first_name': 'text',
        'last_name': 'text',
        'inactive_flag': 'boolean',
        '_deleted_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        id as member_id,
        identifier as member_identifier,
        first_name,
        last_name,
        coalesce(inactive_flag, false) as is_inactive
    from source
    where _deleted_at is null

)

select * from renamed
