{#- Layers live in fixed schemas (qbr_staging, qbr_intermediate, qbr_seeds):
    the folder's +schema is used verbatim instead of dbt's <target>_<schema>.
    The marts schema `qbr` alone takes the `marts_suffix` var, so the refresh
    can build into `qbr__build` and swap it with `qbr` in one transaction
    (docs/contracts.md section 3). Views in the marts reference marts by
    relation, so they land in the same suffixed schema through ref(). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}{{ var('marts_suffix', '') }}
    {%- elif custom_schema_name | trim == 'qbr' -%}
        qbr{{ var('marts_suffix', '') }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
