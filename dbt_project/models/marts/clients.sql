{#- Clients are ConnectWise companies (vendors left out), with the NinjaOne
    organization(s) and QuickBooks customer(s) matched to each (mapping seed
    first, then normalized name). match_status: matched (both other
    systems), partial (one), unmatched (neither). -#}
with

companies as (

    select * from {{ ref('stg_connectwise__companies') }}

),

matched as (

    select * from {{ ref('int_clients_matched') }}

),

excluded_organizations as (

    select * from {{ ref('excluded_organizations') }}
    where source_system in ('connectwise', 'any')

),

external_names as (

    select
        company_id,
        string_agg(
            source_name, '; ' order by source_name
        ) filter (where source_system = 'ninjaone') as ninja_organization,
        string_agg(
            source_name, '; ' order by source_name
        ) filter (where source_system = 'quickbooks') as quickbooks_customer
    from matched
    where company_id is not null
    group by company_id

),

final as (

    select
        {{ var('organization_id') }} as organization_id,
        companies.company_id as client_id,
        companies.company_name as client_name,
        companies.company_identifier as identifier,
        external_names.ninja_organization,
        external_names.quickbooks_customer,
        companies.is_lead as is_prospect,
        case
            when
                external_names.ninja_organization is not null
                and external_names.quickbooks_customer is not null
                then 'matched'
            when
                external_names.ninja_organization is not null
                or external_names.quickbooks_customer is not null
                then 'partial'
            else 'unmatched'
        end as match_status,
        excluded_organizations.organization_name is not null as is_internal
    from companies
    left join external_names
        on companies.company_id = external_names.company_id
    left join excluded_organizations
        on companies.company_name = excluded_organizations.organization_name
    where not companies.is_vendor

)

select * from final
