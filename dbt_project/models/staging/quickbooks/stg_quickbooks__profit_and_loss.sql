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
        account_id,
        section,
        section_path,
        accounting_method,
        source_file,
        loaded_at,
        cast(date_trunc('month', month) as date) as pnl_month,
        coalesce(amount, 0) as amount,
        -- a Desktop key is the account's full name; a leading account number
        -- (`4000 · Sales`) on any of its parts is not part of it (rows
        -- landed before the number was split off still carry it)
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
        -- the mapping matches the name without the number
        regexp_replace(
            account_name, '^[0-9]+([.-][0-9]+)*[[:space:]]*·[[:space:]]*', ''
        ) as account_name,
        coalesce(
            account_number,
            substring(account_name, '^([0-9]+(?:[.-][0-9]+)*)[[:space:]]*·')
        ) as account_number
    from source

)

select * from renamed
