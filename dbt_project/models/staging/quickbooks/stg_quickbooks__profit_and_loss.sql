with

source as (

    {{ qbr.select_source('quickbooks', 'profit_and_loss', {
        'origin': 'text',
        'account_key': 'text',
        'account_id': 'text',
        'account_name': 'text',
        'section': 'text',
        'section_path': 'text',
        'month': 'date',
        'amount': 'numeric',
        'accounting_method': 'text',
        'source_file': 'text',
        'loaded_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        origin,
        account_key,
        account_id,
        account_name,
        section,
        section_path,
        accounting_method,
        source_file,
        loaded_at,
        cast(date_trunc('month', month) as date) as pnl_month,
        coalesce(amount, 0) as amount
    from source

)

select * from renamed
