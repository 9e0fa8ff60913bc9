{#- Months are bounded in the reporting time zone (METRICS.md): convert a UTC
    timestamp to local wall-clock time before truncating. Dispatched so a
    warehouse engine can supply its own spelling. -#}
{% macro to_reporting_tz(column) -%}
    {{ return(adapter.dispatch('to_reporting_tz', 'qbr')(column)) }}
{%- endmacro %}

{% macro default__to_reporting_tz(column) -%}
    ({{ column }} at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}

{#- First day (date) of the reporting-time-zone month of a UTC timestamp. -#}
{% macro reporting_month(column) -%}
    {{ return(adapter.dispatch('reporting_month', 'qbr')(column)) }}
{%- endmacro %}

{% macro default__reporting_month(column) -%}
    cast(date_trunc('month', {{ qbr.to_reporting_tz(column) }}) as date)
{%- endmacro %}

{#- 'YYYY-MM' of a UTC timestamp, in the reporting time zone. -#}
{% macro reporting_period(column) -%}
    {{ return(adapter.dispatch('reporting_period', 'qbr')(column)) }}
{%- endmacro %}

{% macro default__reporting_period(column) -%}
    to_char({{ qbr.to_reporting_tz(column) }}, 'YYYY-MM')
{%- endmacro %}

{#- 'YYYY-MM' of a date (already a local calendar date). -#}
{% macro month_period(date_column) -%}
    {{ return(adapter.dispatch('month_period', 'qbr')(date_column)) }}
{%- endmacro %}

{% macro default__month_period(date_column) -%}
    to_char({{ date_column }}, 'YYYY-MM')
{%- endmacro %}

{#- 'YYYY-Qn' of a date. -#}
{% macro quarter_period(date_column) -%}
    {{ return(adapter.dispatch('quarter_period', 'qbr')(date_column)) }}
{%- endmacro %}

{% macro default__quarter_period(date_column) -%}
    to_char({{ date_column }}, 'YYYY-"Q"Q')
{%- endmacro %}

{#- Local midnight of a calendar date, as a UTC instant (timestamptz). -#}
{% macro local_midnight(date_column) -%}
    {{ return(adapter.dispatch('local_midnight', 'qbr')(date_column)) }}
{%- endmacro %}

{% macro default__local_midnight(date_column) -%}
    (cast({{ date_column }} as timestamp)
        at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}

{#- The current local date and month in the reporting time zone. -#}
{% macro reporting_today() -%}
    {{ return(adapter.dispatch('reporting_today', 'qbr')()) }}
{%- endmacro %}

{% macro default__reporting_today() -%}
    cast(now() at time zone '{{ var("reporting_timezone") }}' as date)
{%- endmacro %}

{% macro reporting_current_month() -%}
    cast(date_trunc('month', {{ qbr.reporting_today() }}) as date)
{%- endmacro %}

{#- A calendar date sent as midnight UTC (ConnectWise agreement dates): the
    date part in UTC, never shifted into the reporting time zone. -#}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date', 'qbr')(column)) }}
{%- endmacro %}

{% macro default__utc_date(column) -%}
    cast({{ column }} at time zone 'UTC' as date)
{%- endmacro %}
