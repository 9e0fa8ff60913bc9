{#- P&L accounts that match no row of the account_category_mapping seed:
    left out of every revenue and expense category (and so of the totals)
    until an analyst maps them. -#}
with

accounts as (

    select * from {{ ref('int_pnl_accounts_mapped') }}

),

pnl as (

    select * from {{ ref('stg_quickbooks__profit_and_loss') }}

),

amounts as (

    select
        account_key,
        min(pnl_month) as first_month,
        max(pnl_month) as last_month,
        count(distinct pnl_month) filter (
            where amount <> 0
        ) as months_with_amount,
        sum(amount) as total_amount
    from pnl
    group by account_key

),

final as (

    select
        {{ var('organization_id') }} as organization_id,
        accounts.account_key,
        accounts.account_id,
        accounts.account_name,
        accounts.account_full_name,
        accounts.section,
        {{ qbr.month_period('amounts.first_month') }} as first_period,
        {{ qbr.month_period('amounts.last_month') }} as last_period,
        coalesce(amounts.months_with_amount, 0) as months_with_amount,
        coalesce(amounts.total_amount, 0) as total_amount,
        'matches no account_category_mapping pattern' as reason
    from accounts
    left join amounts
        on accounts.account_key = amounts.account_key
    where not accounts.is_mapped

)

select * from final
