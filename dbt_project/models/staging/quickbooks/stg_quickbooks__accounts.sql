with

source as (

    {{ qbr.select_source('quickbooks', 'accounts', {
        'id': 'text',
        'name': 'text',
        'fully_qualified_name': 'text',
        'account_type': 'text',
        'account_sub_type': 'text',
        'classification': 'text',
        'active': 'boolean',
        '_deleted_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        id as account_id,
        name as account_name,
        account_type,
        account_sub_type,
        classification,
        coalesce(fully_qualified_name, name) as account_full_name,
        coalesce(active, true) as is_active
    from source
    where _deleted_at is null

)

select * from renamed
