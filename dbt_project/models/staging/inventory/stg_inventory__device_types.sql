with

source as (

    {{ qbr.select_source('inventory', 'device_type', {
        'id': 'bigint',
        'code': 'text',
    }) }}

),

renamed as (

    select
        id as device_type_id,
        code as device_type_code
    from source

)

select * from renamed
