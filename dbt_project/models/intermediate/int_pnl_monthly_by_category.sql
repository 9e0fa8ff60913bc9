{#- P&L amounts per month and category. When a month has rows from both the
    QuickBooks Online report and a Desktop export, the Online report wins
    (one origin per month, never both: that would double count). Unmapped
    accounts keep a null category here; metrics leave them out and
    unmapped_accounts lists them. -#}
with

pnl as (

    select * from {{ ref('stg_quickbooks__profit_and_loss') }}

),

accounts as (

    select * from {{ ref('int_pnl_accounts_mapped') }}

),

month_origins as (

    select
        pnl_month,
        min(case when origin = 'online' then 0 else 1 end) as origin_rank
    from pnl
    group by pnl_month

),

chosen as (

    select pnl.*
    from pnl
    inner join month_origins
        on
            pnl.pnl_month = month_origins.pnl_month
            and (case when pnl.origin = 'online' then 0 else 1 end)
            = month_origins.origin_rank

),

by_category as (

    select
        chosen.pnl_month,
        accounts.category,
        sum(chosen.amount) as amount,
        count(distinct chosen.account_key) as account_count
    from chosen
    inner join accounts
        on chosen.account_key = accounts.account_key
    group by chosen.pnl_month, accounts.category

)

select * from by_category
