{#- Indexes for the API's look-ups (period / key / client). -#}
{{ config(indexes=[{'columns': ['metric_key'], 'unique': true}]) }}

{#- The metric catalogue seed, served by GET /metrics/definitions, with a
    link into the dbt docs site. -#}
with

catalogue as (

    select * from {{ ref('metric_catalogue') }}

),

described as (

    select
        metric_key,
        metric_name,
        category,
        unit,
        source,
        formula,
        quarterly_rule,
        nullif(direction, '') as direction,
        cast(display_order as integer) as display_order,
        cast(is_smartnumber as boolean) as is_smartnumber,
        description,
        {{ "'" ~ var("docs_base_url", "") ~ "#!/model/model.qbr.'" }}
        || case
            when cast(is_smartnumber as boolean) then 'smartnumbers'
            else 'metrics_monthly'
        end as docs_url,
        collection,
        metric_type,
        nullif(source_group, '') as source_group,
        cast(allows_negative as boolean) as allows_negative,
        nullif(formula_inputs, '') as formula_inputs,
        cast(per_client as boolean) as per_client
    from catalogue

)

select * from described
