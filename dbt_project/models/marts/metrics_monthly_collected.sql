{#- The heavy part of metrics_monthly, pre-computed at build time: one row
    per organization, reported month and monthly input metric with the value
    the source systems give (null where the source does not cover the month,
    with `coverage` saying why, 0 where it does and nothing happened; each
    source's months come from int_source_coverage_monthly, agreement metrics
    have their own coverage). Manual-only metrics get a row
    with a null collected value. Negative counts or hours are rejected (null
    here, flagged in data_quality_flags). metrics_monthly (a view) overlays
    manual entries on this table. -#}
with

months as (

    select * from {{ ref('int_months') }}
    where is_reported

),

coverage as (

    select * from {{ ref('int_source_coverage_monthly') }}

),

tickets as (

    select * from {{ ref('int_tickets_classified') }}

),

time_entries as (

    select * from {{ ref('int_time_entries_classified') }}

),

device_counts as (

    select * from {{ ref('int_device_counts_monthly') }}

),

pnl as (

    select * from {{ ref('int_pnl_monthly_by_category') }}

),

agreements as (

    select * from {{ ref('int_agreements_active_monthly') }}

),

agreement_starts as (

    select * from {{ ref('int_agreements_classified') }}
    where is_managed and not is_internal

),


client_mrr as (

    select * from {{ ref('int_client_mrr_monthly') }}

),

catalogue as (

    select * from {{ ref('metric_catalogue') }}
    where metric_type = 'input'

),

created as (

    select
        entered_month as month_start,
        count(*) as reactive_tickets_created
    from tickets
    where is_reactive and is_parent
    group by entered_month

),

closed as (

    select
        closed_month as month_start,
        count(*) as reactive_tickets_closed
    from tickets
    where is_reactive and is_parent and has_closed_status
    group by closed_month

),

reactive_time as (

    select
        entered_month as month_start,
        sum(actual_hours) as reactive_time_spent
    from time_entries
    where is_reactive
    group by entered_month

),

active_agreements as (

    select
        month_start,
        count(distinct agreement_id) as agreements
    from agreements
    where is_managed
    group by month_start

),

new_agreements as (

    select
        start_month as month_start,
        count(*) as new_agreements
    from agreement_starts
    group by start_month

),

mrr_movements as (

    select
        month_start,
        sum(new_mrr) as new_mrr,
        sum(lost_mrr) as lost_mrr
    from client_mrr
    group by month_start

),

pnl_wide as (

    select
        pnl_month as month_start,
        {%- for category in [
            'nrr', 'mrr', 'orr', 'product_sales', 'misc_revenue',
            'employee_expense', 'owner_comp_taxes', 'owner_comp',
            'product_cogs', 'other_expenses'] %}
            coalesce(
                sum(amount) filter (where category = '{{ category }}'), 0
            ) as {{ category }},
        {%- endfor %}
        coalesce(sum(amount) filter (
            where category in (
                'nrr', 'mrr', 'orr', 'product_sales', 'misc_revenue'
            )
        ), 0) as total_revenue,
        coalesce(sum(amount) filter (
            where category in (
                'employee_expense', 'owner_comp_taxes', 'owner_comp',
                'product_cogs', 'other_expenses'
            )
        ), 0) as total_expenses
    from pnl
    group by pnl_month

),

wide as (

    select
        months.month_start,
        months.period,
        coverage.has_connectwise,
        coverage.has_agreements,
        coverage.has_quickbooks,
        coverage.has_inventory,
        coverage.has_security_inventory,
        coverage.connectwise_reason,
        coverage.agreements_reason,
        coverage.quickbooks_reason,
        coverage.inventory_reason,
        coverage.security_inventory_reason,
        case
            when coverage.has_connectwise
                then coalesce(created.reactive_tickets_created, 0)
        end as reactive_tickets_created,
        case
            when coverage.has_connectwise
                then coalesce(closed.reactive_tickets_closed, 0)
        end as reactive_tickets_closed,
        case
            when coverage.has_connectwise
                then coalesce(reactive_time.reactive_time_spent, 0)
        end as reactive_time_spent,
        case
            when coverage.has_inventory
                then coalesce(device_counts.endpoints_managed, 0)
        end as endpoints_managed,
        case
            when coverage.has_inventory
                then coalesce(device_counts.seats_managed, 0)
        end as seats_managed,
        case
            when coverage.has_security_inventory and coverage.has_inventory
                then coalesce(device_counts.endpoints_with_security, 0)
        end as endpoints_with_security,
        case
            when coverage.has_agreements
                then coalesce(active_agreements.agreements, 0)
        end as agreements,
        case
            when coverage.has_agreements
                then coalesce(new_agreements.new_agreements, 0)
        end as new_agreements,
        case
            when coverage.has_agreements
                then coalesce(mrr_movements.new_mrr, 0)
        end as new_mrr,
        case
            when coverage.has_agreements
                then coalesce(mrr_movements.lost_mrr, 0)
        end as lost_mrr,
        {%- for column in [
            'nrr', 'mrr', 'orr', 'product_sales', 'misc_revenue',
            'total_revenue', 'employee_expense', 'owner_comp_taxes',
            'owner_comp', 'product_cogs', 'other_expenses',
            'total_expenses'] %}
            case
                when coverage.has_quickbooks
                    then coalesce(pnl_wide.{{ column }}, 0)
            end as {{ column }},
        {%- endfor %}
        case
            when coverage.has_quickbooks
                then
                    coalesce(pnl_wide.total_revenue, 0)
                    - coalesce(pnl_wide.total_expenses, 0)
        end as net_profit
    from months
    inner join coverage
        on months.month_start = coverage.month_start
    left join created
        on months.month_start = created.month_start
    left join closed
        on months.month_start = closed.month_start
    left join reactive_time
        on months.month_start = reactive_time.month_start
    left join device_counts
        on months.month_start = device_counts.snapshot_month
    left join active_agreements
        on months.month_start = active_agreements.month_start
    left join new_agreements
        on months.month_start = new_agreements.month_start
    left join mrr_movements
        on months.month_start = mrr_movements.month_start
    left join pnl_wide
        on months.month_start = pnl_wide.month_start

),

long_form as (

    select
        wide.month_start,
        wide.period,
        metric.metric_key,
        metric.source_group,
        metric.collected_value,
        metric.is_covered,
        metric.reason
    from wide
    cross join lateral (
        values
        {%- for key, group in [
            ('reactive_tickets_created', 'connectwise'),
            ('reactive_tickets_closed', 'connectwise'),
            ('reactive_time_spent', 'connectwise'),
            ('endpoints_managed', 'inventory'),
            ('seats_managed', 'inventory'),
            ('endpoints_with_security', 'security_inventory'),
            ('agreements', 'agreements'),
            ('new_agreements', 'agreements'),
            ('new_mrr', 'agreements'),
            ('lost_mrr', 'agreements'),
            ('nrr', 'quickbooks'),
            ('mrr', 'quickbooks'),
            ('orr', 'quickbooks'),
            ('product_sales', 'quickbooks'),
            ('misc_revenue', 'quickbooks'),
            ('total_revenue', 'quickbooks'),
            ('employee_expense', 'quickbooks'),
            ('owner_comp_taxes', 'quickbooks'),
            ('owner_comp', 'quickbooks'),
            ('product_cogs', 'quickbooks'),
            ('other_expenses', 'quickbooks'),
            ('total_expenses', 'quickbooks'),
            ('net_profit', 'quickbooks')] %}
            (
                '{{ key }}',
                '{{ group }}',
                cast(wide.{{ key }} as numeric),
                wide.has_{{ group }},
                wide.{{ group }}_reason
            ){{ ',' if not loop.last }}
        {%- endfor %}
    ) as metric (
        metric_key, source_group, collected_value, is_covered, reason
    )

),

described as (

    select
        {{ var('organization_id') }} as organization_id,
        months.period,
        months.month_start,
        catalogue.metric_key,
        {{ qbr.trim_numeric('long_form.collected_value') }} as raw_value,
        months.is_complete,
        months.is_in_progress,
        case
            when
                catalogue.unit in ('count', 'hours')
                and long_form.collected_value < 0
                then null
            else {{ qbr.trim_numeric('long_form.collected_value') }}
        end as collected_value,
        case
            when catalogue.collection = 'manual' then 'manual'
            when long_form.collected_value is not null then 'collected'
            -- why the source gives no value: not_loaded, before_first_month,
            -- missing_month or after_last_month (int_source_coverage_monthly)
            when long_form.reason in (
                'not_loaded', 'before_first_month', 'missing_month',
                'after_last_month'
            ) then long_form.reason
            else 'not_loaded'
        end as coverage,
        now() as updated_at
    from months
    cross join catalogue
    left join long_form
        on
            months.month_start = long_form.month_start
            and catalogue.metric_key = long_form.metric_key

)

select * from described
