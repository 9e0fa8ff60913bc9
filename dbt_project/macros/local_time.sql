{#- Months are bounded in the reporting time zone (METRICS.md): convert a UTC
    timestamp to local wall-clock time before truncating. Dispatched so a
    warehouse engine can supply its own spelling. -#}
{% macro to_reporting_tz(column) -%}
    {{ return(adapter.dispatch('to_reporting_tz', 'qbr')(column)) }}
{%- endmacro %}

{% macro default__to_reporting_tz(column) -%}
    ({{ column }} at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}

{#- 'YYYY-MM' of a UTC timestamp, in the reporting time zone. -#}
{% macro reporting_period(column) -%}
    {{ return(adapter.dispatch('reporting_period', 'qbr')(column)) }}
{%- endmacro %}

{% macro default__reporting_period(column) -%}
    to_char({{ qbr.to_reporting_tz(column) }}, 'YYYY-MM')
{%- endmacro %}
