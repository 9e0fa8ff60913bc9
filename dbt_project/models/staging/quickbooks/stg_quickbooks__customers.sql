with

source as (

    {{ qbr.select_source('quickbooks', 'customers', {
        'id': 'text',
        'display_name': 'text',
        'company_name': 'text',
        'active': 'boolean',
        'parent_ref__value': 'text',
        'job': 'boolean',
        '_deleted_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        id as customer_id,
        display_name as customer_name,
        company_name,
        parent_ref__value as parent_customer_id,
        coalesce(active, true) as is_active,
        parent_ref__value is not null as is_job
    from source
    where _deleted_at is null

)

select * from renamed
