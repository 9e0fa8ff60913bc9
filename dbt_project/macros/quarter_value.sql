{#- In smartnumbers: a metric's quarter value (S() of a summed input, A() of
    an averaged one: metrics_quarterly's value by the catalogue's
    quarterly_rule) and the months that divide "/ 3" (3, or while the quarter
    is in progress the months with a value, null when none has). `q` holds
    the jsonb maps quarter_values and months_with_value and is_provisional. -#}
{% macro quarter_value(key) -%}
    cast(q.quarter_values ->> '{{ key }}' as numeric)
{%- endmacro %}

{% macro quarter_months(key) -%}
    (case
        when q.is_provisional
            then nullif(cast(q.months_with_value ->> '{{ key }}' as integer), 0)
        else 3
    end)
{%- endmacro %}
