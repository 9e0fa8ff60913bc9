{#- A ratio whose denominator is 0 or null is null: never 0, never an error
    (METRICS.md conventions). -#}
{% macro safe_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('safe_divide', 'qbr')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__safe_divide(numerator, denominator) -%}
    (cast(({{ numerator }}) as numeric) / nullif(({{ denominator }}), 0))
{%- endmacro %}

{#- Drop trailing zeros a numeric division leaves (0.80000000000000000000
    -> 0.8): same value, cleaner JSON for the API and exact comparisons in
    unit tests. -#}
{% macro trim_numeric(expression) -%}
    {{ return(adapter.dispatch('trim_numeric', 'qbr')(expression)) }}
{%- endmacro %}

{% macro default__trim_numeric(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__trim_numeric(expression) -%}
    trim_scale({{ expression }})
{%- endmacro %}
