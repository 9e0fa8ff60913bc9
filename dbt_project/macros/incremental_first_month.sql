{#- The first month an incremental build of a monthly model re-reads: the
    model's latest month minus var incremental_lookback_months, or the month of
    var refresh_since (`qbr refresh --since YYYY-MM`) when that is earlier.
    `month_column` is the model's month column in {{ this }}. -#}
{% macro incremental_first_month(month_column) -%}
    {%- set lookback = var("incremental_lookback_months") -%}
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
{%- endmacro %}
