with

source as (

    {{ qbr.select_source('inventory', 'site', {
        'id': 'bigint',
        'vendor_id': 'bigint',
        'vendor_site_key': 'text',
        'name': 'text',
    }) }}

),

renamed as (

    select
        id as site_id,
        vendor_id,
        vendor_site_key,
        name as site_name
    from source

)

select * from renamed
