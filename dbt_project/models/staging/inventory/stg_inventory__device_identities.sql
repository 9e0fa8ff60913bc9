with

source as (

    {{ qbr.select_source('inventory', 'device_identity', {
        'id': 'bigint',
        'vendor_id': 'bigint',
        'vendor_device_key': 'text',
        'first_seen_date': 'date',
        'last_seen_date': 'date',
    }) }}

),

renamed as (

    select
        id as device_identity_id,
        vendor_id,
        vendor_device_key,
        first_seen_date,
        last_seen_date
    from source

)

select * from renamed
