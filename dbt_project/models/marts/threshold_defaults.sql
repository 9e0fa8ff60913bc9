{#- The default_thresholds seed, copied into the marts schema so the
    thresholds_effective view reads only qbr relations (contracts 3). -#}
with

defaults as (

    select * from {{ ref('default_thresholds') }}

),

typed as (

    select
        metric_key,
        direction,
        cast(green_min as numeric) as green_min,
        cast(green_max as numeric) as green_max,
        cast(yellow_min as numeric) as yellow_min,
        cast(yellow_max as numeric) as yellow_max,
        notes
    from defaults

)

select * from typed
