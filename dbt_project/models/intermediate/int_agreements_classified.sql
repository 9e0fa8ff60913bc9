{#- ConnectWise agreements with the seed rules applied: managed type (seed
    managed_agreement_types), billed monthly (var mrr_billing_cycle: only
    those carry MRR), and whether the company is internal (seed
    excluded_organizations; internal agreements never count). -#}
with

agreements as (

    select * from {{ ref('stg_connectwise__agreements') }}

),

managed_types as (

    select * from {{ ref('managed_agreement_types') }}

),

companies as (

    select * from {{ ref('stg_connectwise__companies') }}

),

excluded_organizations as (

    select * from {{ ref('excluded_organizations') }}
    where source_system in ('connectwise', 'any')

),

classified as (

    select
        agreements.agreement_id,
        agreements.agreement_name,
        agreements.company_id,
        agreements.agreement_type_name,
        agreements.billing_cycle_name,
        agreements.bill_amount,
        agreements.start_date,
        agreements.end_date,
        agreements.cancelled_date,
        managed_types.agreement_type_name is not null as is_managed,
        coalesce(
            agreements.billing_cycle_name = '{{ var("mrr_billing_cycle") }}',
            false
        ) as is_monthly_billed,
        excluded_organizations.organization_name is not null as is_internal,
        cast(date_trunc('month', agreements.start_date) as date)
            as start_month
    from agreements
    left join managed_types
        on agreements.agreement_type_name = managed_types.agreement_type_name
    left join companies
        on agreements.company_id = companies.company_id
    left join excluded_organizations
        on companies.company_name = excluded_organizations.organization_name

)

select * from classified
