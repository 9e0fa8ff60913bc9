{#- Every P&L account resolved to exactly one category (METRICS.md 1):
    all mapping rules that match the account are ranked by priority (lowest
    number wins) and only the best one is kept, so an account matching
    several patterns (the catch-all "Expense" and "Payroll" and "Officer")
    counts once, in the category of its most specific rule. Two different
    categories at the same best priority are flagged ambiguous (and resolved
    by category order so the build stays deterministic). An account matching
    no rule has a null category and is reported in unmapped_accounts.
    Patterns match the account's full name (Parent:Child) and, for `exact`,
    also its own name; all matching ignores case. -#}
with

pnl as (

    select * from {{ ref('stg_quickbooks__profit_and_loss') }}

),

accounts as (

    select * from {{ ref('stg_quickbooks__accounts') }}

),

mapping as (

    select * from {{ ref('account_category_mapping') }}

),

categories as (

    select * from {{ ref('account_categories') }}

),

pnl_accounts as (

    select
        account_key,
        max(account_id) as account_id,
        max(account_name) as account_name,
        max(section) as section,
        max(section_path) as section_path
    from pnl
    group by account_key

),

named as (

    select
        pnl_accounts.account_key,
        pnl_accounts.account_id,
        pnl_accounts.account_name,
        pnl_accounts.section,
        pnl_accounts.section_path,
        coalesce(
            accounts.account_full_name,
            case
                when pnl_accounts.account_key like '%:%'
                    then pnl_accounts.account_key
            end,
            pnl_accounts.account_name
        ) as account_full_name
    from pnl_accounts
    left join accounts
        on pnl_accounts.account_id = accounts.account_id

),

matches as (

    select
        named.account_key,
        mapping.category,
        mapping.priority,
        mapping.pattern,
        mapping.match_type,
        categories.display_order as category_order
    from named
    inner join mapping
        on case mapping.match_type
            when 'exact'
                then
                    lower(trim(named.account_full_name))
                    = lower(trim(mapping.pattern))
                    or lower(trim(named.account_name))
                    = lower(trim(mapping.pattern))
            when 'contains'
                then
                    strpos(
                        lower(named.account_full_name), lower(mapping.pattern)
                    ) > 0
            when 'regex' then named.account_full_name ~* mapping.pattern
            else false
        end
    left join categories
        on mapping.category = categories.category

),

ranked as (

    select
        account_key,
        category,
        priority,
        pattern,
        match_type,
        row_number() over (
            partition by account_key
            order by priority asc, category_order asc, category asc
        ) as match_rank,
        count(*) over (partition by account_key) as matched_rules
    from matches

),

best_priority as (

    select
        account_key,
        count(distinct category) as categories_at_best
    from ranked
    where
        priority = (
            select min(inner_ranked.priority)
            from ranked as inner_ranked
            where inner_ranked.account_key = ranked.account_key
        )
    group by account_key

),

resolved as (

    select
        named.account_key,
        named.account_id,
        named.account_name,
        named.account_full_name,
        named.section,
        named.section_path,
        ranked.category,
        ranked.pattern as matched_pattern,
        ranked.match_type as matched_match_type,
        ranked.priority as matched_priority,
        ranked.category is not null as is_mapped,
        coalesce(ranked.matched_rules, 0) as matched_rules,
        coalesce(best_priority.categories_at_best, 0) > 1 as is_ambiguous
    from named
    left join ranked
        on
            named.account_key = ranked.account_key
            and ranked.match_rank = 1
    left join best_priority
        on named.account_key = best_priority.account_key

)

select * from resolved
