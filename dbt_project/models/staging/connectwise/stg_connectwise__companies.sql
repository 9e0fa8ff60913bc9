with

source as (

    {{ qbr.select_source('connectwise', 'companies', {
        'id': 'bigint',
        'identifier': 'text',
        'name': 'text',
        'status__name': 'text',
        'deleted_flag': 'boolean',
        'lead_flag': 'boolean',
        'is_vendor_flag': 'boolean',
        '_info__last_updated': 'timestamptz',
        '_deleted_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        id as company_id,
        identifier as company_identifier,
        name as company_name,
        status__name as status_name,
        _info__last_updated as updated_at,
        coalesce(lead_flag, false) as is_lead,
        coalesce(is_vendor_flag, false) as is_vendor
    from source
    where
        _deleted_at is null
        and not coalesce(deleted_flag, false)

)

select * from renamed
