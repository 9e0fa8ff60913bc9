with

source as (

    {{ qbr.select_source('quickbooks', 'invoices', {
        'id': 'text',
        'doc_number': 'text',
        'txn_date': 'date',
        'due_date': 'date',
        'customer_ref__value': 'text',
        'customer_ref__name': 'text',
        'total_amt': 'numeric',
        'balance': 'numeric',
        '_dlt_id': 'text',
        '_deleted_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        id as invoice_id,
        doc_number,
        txn_date as invoice_date,
        due_date,
        customer_ref__value as customer_id,
        customer_ref__name as customer_name,
        total_amt as total_amount,
        balance as open_balance,
        _dlt_id as dlt_id,
        cast(date_trunc('month', txn_date) as date) as invoice_month
    from source
    where _deleted_at is null

)

select * from renamed
