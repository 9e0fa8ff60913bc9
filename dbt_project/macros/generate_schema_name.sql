{#- Layers live in fixed schemas (qbr_staging, qbr_intermediate, qbr, ...):
    use the folder's +schema verbatim instead of dbt's <target>_<schema>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
