with

source as (

    {{ qbr.select_source('inventory', 'vendor', {
        'id': 'bigint',
        'name': 'text',
    }) }}

),

renamed as (

    select
        id as vendor_id,
        name as vendor_name
    from source

)

select * from renamed
