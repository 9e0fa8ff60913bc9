with

source as (

    {{ qbr.select_source('quickbooks', 'profit_and_loss', {
        'origin': 'text',
        'account_key': 'text',
        'account_id': 'text',
        'account_name': 'text',
        'account_number': 'text',
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
        case
            when origin = 'desktop'
                then
                    regexp_replace(
                        account_key,
                        '(^|:)[0-9]+([.-][0-9]+)*[[:space:]]*·[[:space:]]*',
                        '\1',
                        'g'
                    )
            else account_key
        end as account_key,
        account_id,
        -- a leading account number (`4000 · Sales`) is not part of the name
        -- the mapping matches; rows landed before it was split off still
        -- carry it in the name
        regexp_replace(
            account_name, '^[0-9]+([.-][0-9]+)*[[:space:]]*·[[:space:]]*', ''
        ) as account_name,
        coalesce(
            account_number,
            substring(
                account_name from '^([0-9]+(?:[.-][0-9]+)*)[[:space:]]*·'
            )
        ) as account_number,
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
