{#- Cross-system client identity (METRICS.md 5). Clients are ConnectWise
    companies; each NinjaOne organization (from the device inventory) and
    each QuickBooks customer is matched to one by the client_mapping seed
    first, then by normalized name (case, punctuation, & / and, legal
    suffixes). One row per external record, matched or not: unmatched
    records are listed, never dropped. QuickBooks jobs (sub-customers) take
    their parent customer's match. -#}
{#- A table: clients, unmatched_clients, the per-client inputs and two
    tests read it; as a view each of them re-read every month's NinjaOne
    organization names from int_device_snapshots_latest_in_month. -#}
{{ config(materialized='table') }}
with

companies as (

    select * from {{ ref('stg_connectwise__companies') }}

),

customers as (

    select * from {{ ref('stg_quickbooks__customers') }}

),

devices as (

    select * from {{ ref('int_device_snapshots_latest_in_month') }}

),

client_mapping as (

    select * from {{ ref('client_mapping') }}

),

excluded_organizations as (

    select * from {{ ref('excluded_organizations') }}

),

ninja_organizations as (

    select
        'ninjaone' as source_system,
        organization_name as source_key,
        organization_name as source_name,
        max(snapshot_month) as last_seen_month
    from devices
    where vendor_name = '{{ var("rmm_vendor") }}'
    group by organization_name

),

quickbooks_customers as (

    select
        'quickbooks' as source_system,
        customer_id as source_key,
        customer_name as source_name,
        cast(null as date) as last_seen_month
    from customers
    where not is_job

),

external_records as (

    select * from ninja_organizations
    union all
    select * from quickbooks_customers

),

company_names as (

    select
        company_id,
        company_identifier,
        company_name,
        {{ qbr.normalize_name('company_name') }} as normalized_name,
        count(*) over (
            partition by {{ qbr.normalize_name('company_name') }}
        ) as companies_with_name
    from companies

),

by_mapping as (

    select
        external_records.source_system,
        external_records.source_key,
        company_names.company_id
    from external_records
    inner join client_mapping
        on
            external_records.source_system = client_mapping.source_system
            and external_records.source_name = client_mapping.source_name
    inner join company_names
        on client_mapping.company_identifier = company_names.company_identifier

),

by_name as (

    select
        external_records.source_system,
        external_records.source_key,
        company_names.company_id
    from external_records
    inner join company_names
        on
            {{ qbr.normalize_name('external_records.source_name') }}
            = company_names.normalized_name
            and company_names.companies_with_name = 1

),

top_level_matched as (

    select
        external_records.source_system,
        external_records.source_key,
        external_records.source_name,
        external_records.last_seen_month,
        {{ qbr.normalize_name('external_records.source_name') }}
            as normalized_name,
        coalesce(by_mapping.company_id, by_name.company_id) as company_id,
        case
            when by_mapping.company_id is not null then 'mapping'
            when by_name.company_id is not null then 'normalized_name'
            else 'unmatched'
        end as match_method,
        excluded_organizations.organization_name is not null as is_internal
    from external_records
    left join by_mapping
        on
            external_records.source_system = by_mapping.source_system
            and external_records.source_key = by_mapping.source_key
    left join by_name
        on
            external_records.source_system = by_name.source_system
            and external_records.source_key = by_name.source_key
    left join excluded_organizations
        on
            external_records.source_name
            = excluded_organizations.organization_name
            and external_records.source_system
            = excluded_organizations.source_system

),

jobs as (

    select
        'quickbooks' as source_system,
        customers.customer_id as source_key,
        customers.customer_name as source_name,
        parents.last_seen_month,
        {{ qbr.normalize_name('customers.customer_name') }} as normalized_name,
        parents.company_id,
        case
            when parents.company_id is null then 'unmatched'
            else 'parent'
        end as match_method,
        coalesce(parents.is_internal, false) as is_internal
    from customers
    left join top_level_matched as parents
        on
            parents.source_system = 'quickbooks'
            and customers.parent_customer_id = parents.source_key
    where customers.is_job

),

matched as (

    select * from top_level_matched
    union all
    select * from jobs

)

select * from matched
