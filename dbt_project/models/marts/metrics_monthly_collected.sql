{#- Indexes for the API's look-ups (period / key / client). -#}
{{ config(indexes=[{'columns': ['period', 'metric_key']}]) }}

{#- The heavy part of metrics_monthly, pre-computed at build time: one row
    per organization, reported month and monthly input metric with the value
    the source systems give (null where the source does not cover the month,
    with `coverage` saying why, 0 where it does and nothing happened; each
    source's months come from int_source_coverage_monthly, agreement metrics
    have their own coverage). Manual-only metrics get a row
    with a null collected value. Negative counts or hours are rejected (null
    here, flagged in data_quality_flags). metrics_monthly (a view) overlays
    manual entries on this table. Nothing here is per metric: the values
    come from int_input_metrics_monthly, the coverage group and whether a
    negative value is allowed from the metric catalogue seed. -#}
with

months as (

    select * from {{ ref('int_months') }}
    where is_reported

),

input_values as (

    select * from {{ ref('int_input_metrics_monthly') }}

),

catalogue as (

    select * from {{ ref('metric_catalogue') }}
    where metric_type = 'input'

),

group_coverage as (

    select * from {{ ref('int_source_group_coverage_monthly') }}

),

long_form as (

    select
        group_coverage.month_start,
        catalogue.metric_key,
        group_coverage.is_covered,
        group_coverage.reason,
        case
            when group_coverage.is_covered
                then coalesce(input_values.metric_value, 0)
        end as collected_value
    from catalogue
    inner join group_coverage
        on catalogue.source_group = group_coverage.source_group
    left join input_values
        on
            group_coverage.month_start = input_values.month_start
            and catalogue.metric_key = input_values.metric_key

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
                not cast(catalogue.allows_negative as boolean)
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
