{#- md5 over the '|'-joined text of the given columns (nulls as ''): a
    stable key without dbt_utils. -#}
{% macro surrogate_key(columns) -%}
    {{ return(adapter.dispatch('surrogate_key', 'qbr')(columns)) }}
{%- endmacro %}

{% macro default__surrogate_key(columns) -%}
    md5(concat_ws('|'
    {%- for column in columns -%}
        , coalesce(cast({{ column }} as text), '')
    {%- endfor -%}
    ))
{%- endmacro %}
