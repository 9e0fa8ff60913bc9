{#- The first month an incremental build of a monthly model re-reads: the
    model's latest month minus var incremental_lookback_months, or the month of
    var refresh_since (`qbr refresh --since YYYY-MM`) when that is earlier.
    `month_column` is the model's month column in {{ this }}.

    Evaluated when the model is compiled (just before it runs, so on the same
    rows) and written into its SQL as a date literal: the planner then knows
    how few months are read and uses the month index; as a subquery it
    assumed a third of the table and scanned all of it. The SQL of the
    subquery is the one place the rule is written; the linter, which has no
    database, sees it as a subquery. -#}
{% macro incremental_first_month(month_column) -%}
    {%- set lookback = var("incremental_lookback_months") -%}
    {%- set first_month_sql -%}
    (
        select
            least(
                coalesce(
                    max(this.{{ month_column }})
                    - interval '{{ lookback }} month',
                    date '1900-01-01'
                ),
                {%- if var('refresh_since', none) %}
                    to_date('{{ var("refresh_since") }}', 'YYYY-MM')
                {%- else %}
                    max(this.{{ month_column }})
                {%- endif %}
            )
        from {{ this }} as this
    )
    {%- endset -%}
    {%- if execute and not var('lint_mode', false) -%}
        {%- set found = run_query(
            'select cast(' ~ first_month_sql ~ ' as date)').columns[0].values()
        -%}
        {%- if found[0] is none -%}
            {{ exceptions.raise_compiler_error(
                'incremental_first_month: no first month for ' ~ this) }}
        {%- endif -%}
        date '{{ found[0] }}'
    {%- else -%}
        {{ first_month_sql }}
    {%- endif -%}
{%- endmacro %}
