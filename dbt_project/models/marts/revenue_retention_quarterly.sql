{#- Net and gross revenue retention per quarter from per-client agreement
    MRR. Cohort: clients with MRR > 0 at the quarter's start (the end of the
    month before the quarter). NRR = their MRR at the quarter's end (its last
    month, or the current month while in progress) / their start MRR; GRR
    caps each client's end MRR at its start MRR. Null when the agreements do
    not cover the start month (agreements have their own coverage: they
    exist before the first ticket) or the cohort is empty. -#}
with

client_mrr as (

    select * from {{ ref('int_client_mrr_monthly') }}

),

months as (

    select * from {{ ref('int_months') }}

),

coverage as (

    select * from {{ ref('int_source_coverage_monthly') }}

),

quarters as (

    select
        quarter_period as period,
        cast(
            date_trunc('quarter', min(month_start)) - interval '1 month'
            as date
        ) as start_month,
        max(month_start) as end_month
    from months
    where is_reported
    group by quarter_period

),

cohort as (

    select
        quarters.period,
        quarters.start_month,
        quarters.end_month,
        start_mrr.company_id,
        start_mrr.mrr as start_mrr,
        coalesce(end_mrr.mrr, 0) as end_mrr
    from quarters
    inner join client_mrr as start_mrr
        on
            quarters.start_month = start_mrr.month_start
            and start_mrr.mrr > 0
    left join client_mrr as end_mrr
        on
            quarters.end_month = end_mrr.month_start
            and start_mrr.company_id = end_mrr.company_id

),

summed as (

    select
        period,
        count(*) as clients_at_start,
        sum(start_mrr) as start_mrr,
        sum(end_mrr) as end_mrr,
        sum(least(end_mrr, start_mrr)) as end_mrr_capped
    from cohort
    group by period

),

final as (

    select
        {{ var('organization_id') }} as organization_id,
        quarters.period,
        {{ qbr.month_period('quarters.start_month') }} as start_period,
        {{ qbr.month_period('quarters.end_month') }} as end_period,
        case
            when coverage.has_agreements
                then coalesce(summed.clients_at_start, 0)
        end as clients_at_start,
        case when coverage.has_agreements then summed.start_mrr end
            as start_mrr,
        case when coverage.has_agreements then summed.end_mrr end
            as end_mrr,
        case when coverage.has_agreements then summed.end_mrr_capped end
            as end_mrr_capped,
        case
            when coverage.has_agreements
                then {{ qbr.trim_numeric(qbr.safe_divide(
                    'summed.end_mrr', 'summed.start_mrr')) }}
        end as net_revenue_retention_pct,
        case
            when coverage.has_agreements
                then {{ qbr.trim_numeric(qbr.safe_divide(
                    'summed.end_mrr_capped', 'summed.start_mrr')) }}
        end as gross_revenue_retention_pct
    from quarters
    left join summed
        on quarters.period = summed.period
    left join coverage
        on quarters.start_month = coverage.month_start

)

select * from final
