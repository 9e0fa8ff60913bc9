{#- One row per client agreement and month in which it is active on the
    month's last day (also for the month in progress). Active on day D:
    startDate <= D, endDate null or >= D, dateCancelled null or > D.
    agreementStatus is the current status only and is never used for
    history. Internal companies' agreements are left out. -#}
with

agreements as (

    select * from {{ ref('int_agreements_classified') }}
    where not is_internal

),

months as (

    select * from {{ ref('int_months') }}

),

active as (

    select
        months.month_start,
        months.period,
        agreements.agreement_id,
        agreements.company_id,
        agreements.agreement_type_name,
        agreements.billing_cycle_name,
        agreements.bill_amount,
        agreements.is_managed,
        agreements.is_monthly_billed
    from agreements
    inner join months
        on
            agreements.start_date <= months.as_of_date
            and (
                agreements.end_date is null
                or agreements.end_date >= months.as_of_date
            )
            and (
                agreements.cancelled_date is null
                or agreements.cancelled_date > months.as_of_date
            )

)

select * from active
