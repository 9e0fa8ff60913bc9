-- Every quarter carries all 22 scorecard numbers (the 18 SmartNumbers and
-- the four beyond the sheet), even when a value is null.
with

smartnumbers as (

    select * from {{ ref('smartnumbers') }}

),

definitions as (

    select * from {{ ref('metric_definitions') }}
    where is_smartnumber

),

counted as (

    select
        smartnumbers.period,
        count(*) as numbers
    from smartnumbers
    inner join definitions
        on smartnumbers.metric_key = definitions.metric_key
    group by smartnumbers.period

)

select *
from counted
where numbers <> (select count(*) from definitions)
