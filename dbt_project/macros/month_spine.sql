{#- One row per month from `start_month` ('YYYY-MM') to the current month in
    the reporting time zone; no hub package needed. -#}
{% macro month_spine(start_month) -%}
    {{ return(adapter.dispatch('month_spine', 'qbr')(start_month)) }}
{%- endmacro %}

{% macro postgres__month_spine(start_month) -%}
    select
        month_start::date as month_start
    from generate_series(
        to_date('{{ start_month }}', 'YYYY-MM'),
        date_trunc('month', now() at time zone '{{ var("reporting_timezone") }}'),
        interval '1 month'
    ) as month_start
{%- endmacro %}
