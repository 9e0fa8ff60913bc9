{#- One row per month (`month_start` date) from `start_month` ('YYYY-MM') to
    the current month in the reporting time zone; no hub package needed. -#}
{% macro month_spine(start_month) -%}
    {{ return(adapter.dispatch('month_spine', 'qbr')(start_month)) }}
{%- endmacro %}

{% macro postgres__month_spine(start_month) -%}
    select cast(month_start as date) as month_start
    from generate_series(
        to_date('{{ start_month }}', 'YYYY-MM'),
        {{ qbr.reporting_current_month() }},
        interval '1 month'
    ) as month_start
{%- endmacro %}

{% macro default__month_spine(start_month) -%}
    {{ exceptions.raise_compiler_error(
        "month_spine has no implementation for " ~ adapter.type()) }}
{%- endmacro %}
