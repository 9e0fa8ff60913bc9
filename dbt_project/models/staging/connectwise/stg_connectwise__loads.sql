with

source as (

    {{ qbr.select_source('connectwise', '_dlt_loads', {
        'load_id': 'text',
        'status': 'integer',
        'inserted_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        'connectwise' as source_name,
        load_id,
        inserted_at as loaded_at
    from source
    where status = 0

)

select * from renamed
