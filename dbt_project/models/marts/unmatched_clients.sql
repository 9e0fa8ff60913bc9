{#- NinjaOne organizations and QuickBooks customers that match no
    ConnectWise company, neither through the client_mapping seed nor by
    normalized name. Listed, never silently dropped: add a row to the
    client_mapping seed to fix one. Internal organizations are left out. -#}
with

matched as (

    select * from {{ ref('int_clients_matched') }}

),

final as (

    select
        {{ var('organization_id') }} as organization_id,
        source_system,
        source_key,
        source_name,
        normalized_name,
        {{ qbr.month_period('last_seen_month') }} as last_seen_period,
        'no client_mapping row and no ConnectWise company with the same '
        || 'normalized name' as reason
    from matched
    where match_method = 'unmatched' and not is_internal

)

select * from final
