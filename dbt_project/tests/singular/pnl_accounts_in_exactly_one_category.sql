-- Every P&L account resolves to at most one category (exactly one when
-- mapped), and the category totals add up to the sum of the mapped
-- accounts' amounts: nothing is counted twice, even when several patterns
-- match (the catch-all "Expense" trap).
with

accounts as (

    select * from {{ ref('int_pnl_accounts_mapped') }}

),

by_category as (

    select * from {{ ref('int_pnl_monthly_by_category') }}

),

pnl as (

    select * from {{ ref('stg_quickbooks__profit_and_loss') }}

),

duplicated_accounts as (

    select
        account_key,
        'account appears ' || count(*) || ' times' as problem
    from accounts
    group by account_key
    having count(*) > 1

),

category_total as (

    select coalesce(sum(amount), 0) as amount
    from by_category
    where category is not null

),

chosen_pnl as (

    select pnl.*
    from pnl
    where
        pnl.origin = 'online'
        or not exists (
            select 1
            from pnl as online_rows
            where
                online_rows.pnl_month = pnl.pnl_month
                and online_rows.origin = 'online'
        )

),

mapped_total as (

    select coalesce(sum(chosen_pnl.amount), 0) as amount
    from chosen_pnl
    inner join accounts
        on chosen_pnl.account_key = accounts.account_key
    where accounts.is_mapped

),

totals_differ as (

    select
        'all' as account_key,
        'category total ' || category_total.amount
        || ' <> mapped accounts total ' || mapped_total.amount as problem
    from category_total
    cross join mapped_total
    where abs(category_total.amount - mapped_total.amount) > 0.005

)

select * from duplicated_accounts
union all
select * from totals_differ
