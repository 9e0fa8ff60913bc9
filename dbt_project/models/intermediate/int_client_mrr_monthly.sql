{#- Agreement MRR per client and month (managed-type agreements billed on
    the mrr_billing_cycle var, active on the month's last day), and its
    movement from the previous month: new (0 -> >0), lost (>0 -> 0),
    expansion and contraction (both > 0).
    Every client ever billed appears in every month (0 when not billed), so
    a movement to zero is visible. Internal companies are left out upstream
    (int_agreements_active_monthly). -#}
with

active as (

    select * from {{ ref('int_agreements_active_monthly') }}

),

months as (

    select * from {{ ref('int_months') }}

),

billed_clients as (

    select distinct company_id
    from active
    where is_monthly_billed and is_managed

),

client_months as (

    select
        billed_clients.company_id,
        months.month_start,
        months.period,
        months.is_reported
    from billed_clients
    cross join months

),

mrr as (

    select
        company_id,
        month_start,
        sum(bill_amount) as mrr
    from active
    where is_monthly_billed and is_managed
    group by company_id, month_start

),

with_previous as (

    select
        client_months.company_id,
        client_months.month_start,
        client_months.period,
        client_months.is_reported,
        coalesce(mrr.mrr, 0) as mrr,
        coalesce(
            lag(coalesce(mrr.mrr, 0)) over (
                partition by client_months.company_id
                order by client_months.month_start
            ),
            0
        ) as previous_mrr
    from client_months
    left join mrr
        on
            client_months.company_id = mrr.company_id
            and client_months.month_start = mrr.month_start

),

movements as (

    select
        company_id,
        month_start,
        period,
        is_reported,
        mrr,
        previous_mrr,
        case
            when previous_mrr = 0 and mrr > 0 then 'new'
            when previous_mrr > 0 and mrr = 0 then 'lost'
            when mrr > previous_mrr then 'expansion'
            when mrr < previous_mrr then 'contraction'
            else 'unchanged'
        end as movement,
        case when previous_mrr = 0 and mrr > 0 then mrr else 0 end as new_mrr,
        case
            when previous_mrr > 0 and mrr = 0 then previous_mrr else 0
        end as lost_mrr,
        case
            when previous_mrr > 0 and mrr > previous_mrr
                then mrr - previous_mrr
            else 0
        end as expansion_mrr,
        case
            when mrr > 0 and mrr < previous_mrr then previous_mrr - mrr else 0
        end as contraction_mrr
    from with_previous

)

select * from movements
