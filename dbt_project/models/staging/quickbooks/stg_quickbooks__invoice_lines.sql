with

source as (

    {{ qbr.select_source('quickbooks', 'invoices__line', {
        '_dlt_id': 'text',
        '_dlt_parent_id': 'text',
        'amount': 'numeric',
        'detail_type': 'text',
    }) }}

),

renamed as (

    select
        _dlt_id as invoice_line_id,
        _dlt_parent_id as invoice_dlt_id,
        amount,
        detail_type
    from source

)

select * from renamed
