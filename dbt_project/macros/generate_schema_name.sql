{#- Layers live in fixed schemas (qbr_staging, qbr_intermediate, qbr_seeds)
    and the marts in `qbr`: the folder's +schema is used verbatim instead of
    dbt's <target>_<schema>. The refresh builds everything into side schemas
    (`marts_suffix` for `qbr`, `layers_suffix` for the others, both
    `__build`) and swaps them all in one transaction (docs/contracts.md
    section 3), so a failed build leaves every live schema as it was. ref()
    follows the suffix, so the side schemas only reference each other. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}{{ var('marts_suffix', '') }}
    {%- elif custom_schema_name | trim == 'qbr' -%}
        qbr{{ var('marts_suffix', '') }}
    {%- else -%}
        {{ custom_schema_name | trim }}{{ var('layers_suffix', '') }}
    {%- endif -%}
{%- endmacro %}
