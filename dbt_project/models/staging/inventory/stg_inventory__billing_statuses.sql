with

source as (

    {{ qbr.select_source('inventory', 'billing_status', {
        'id': 'bigint',
        'code': 'text',
    }) }}

),

renamed as (

    select
        id as billing_status_id,
        code as billing_status_code
    from source

)

select * from renamed
