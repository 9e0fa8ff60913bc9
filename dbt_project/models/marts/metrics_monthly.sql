with

periods as (

    select * from {{ ref('periods') }}

),

tickets as (

    select * from {{ ref('int_tickets_classified') }}

),

catalogue as (

    select * from {{ ref('metric_catalogue') }}

),

created as (

    select
        entered_period as period,
        count(*) as value
    from tickets
    where is_reactive and is_parent
    group by entered_period

),

long_form as (

    select
        periods.organization_id,
        periods.period,
        'reactive_tickets_created' as metric_key,
        periods.is_complete,
        coalesce(created.value, 0)::numeric as value
    from periods
    left join created
        on periods.period = created.period

),

described as (

    select
        long_form.organization_id,
        long_form.period,
        long_form.metric_key,
        catalogue.metric_name,
        long_form.value,
        catalogue.unit,
        catalogue.category,
        catalogue.source,
        long_form.is_complete,
        'collected' as data_source,
        now() as updated_at
    from long_form
    inner join catalogue
        on long_form.metric_key = catalogue.metric_key

)

select * from described
