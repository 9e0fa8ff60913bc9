{{ config(materialized='view') }}

{#- Default thresholds (seed) overlaid with the overrides users make through
    the API (qbr_app.thresholds), per organization. A view, so a threshold
    change shows on the next read. An override without yellow bounds gets
    the documented margin (macro yellow_margin). -#}
with

defaults as (

    select * from {{ ref('threshold_defaults') }}

),

organizations as (

    select * from {{ source('qbr_app', 'organization') }}

),

overrides as (

    select * from {{ source('qbr_app', 'thresholds') }}

),

default_rows as (

    select
        organizations.id as organization_id,
        defaults.metric_key,
        defaults.direction,
        defaults.green_min,
        defaults.green_max,
        defaults.yellow_min,
        defaults.yellow_max
    from organizations
    cross join defaults

),

with_derived as (

    select
        organization_id,
        metric_key,
        direction,
        green_min,
        green_max,
        yellow_min,
        yellow_max,
        case
            when direction in ('higher_is_better', 'in_range')
                then green_min - {{ qbr.yellow_margin(
                    'green_min', 'green_max', 'green_min') }}
        end as derived_yellow_min,
        case
            when direction in ('lower_is_better', 'in_range')
                then green_max + {{ qbr.yellow_margin(
                    'green_min', 'green_max', 'green_max') }}
        end as derived_yellow_max
    from overrides

),

override_rows as (

    select
        organization_id,
        metric_key,
        direction,
        green_min,
        green_max,
        {{ qbr.trim_numeric('coalesce(yellow_min, derived_yellow_min)') }}
            as yellow_min,
        {{ qbr.trim_numeric('coalesce(yellow_max, derived_yellow_max)') }}
            as yellow_max
    from with_derived

),

effective as (

    select
        coalesce(
            override_rows.organization_id, default_rows.organization_id
        ) as organization_id,
        coalesce(override_rows.metric_key, default_rows.metric_key)
            as metric_key,
        coalesce(override_rows.direction, default_rows.direction)
            as direction,
        case
            when override_rows.metric_key is not null
                then override_rows.green_min
            else default_rows.green_min
        end as green_min,
        case
            when override_rows.metric_key is not null
                then override_rows.green_max
            else default_rows.green_max
        end as green_max,
        case
            when override_rows.metric_key is not null
                then override_rows.yellow_min
            else default_rows.yellow_min
        end as yellow_min,
        case
            when override_rows.metric_key is not null
                then override_rows.yellow_max
            else default_rows.yellow_max
        end as yellow_max,
        case
            when override_rows.metric_key is not null then 'custom'
            else 'default'
        end as origin
    from default_rows
    full outer join override_rows
        on
            default_rows.organization_id = override_rows.organization_id
            and default_rows.metric_key = override_rows.metric_key

)

select * from effective
