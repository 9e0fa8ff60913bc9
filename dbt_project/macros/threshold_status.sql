{#- green / yellow / red of a value against a threshold band (METRICS.md 3).
    The rule lives once, in the SQL function qbr_app.threshold_status
    (migration 0002: higher_is_better green from green_min up, yellow from
    yellow_min up; lower_is_better green up to green_max, yellow up to
    yellow_max; in_range green inside [green_min, green_max], yellow inside
    [yellow_min, yellow_max]; else red; a null value or no threshold gives
    null). The API calls the same function. `t` is the thresholds relation
    alias. -#}
{% macro threshold_status(value, t) -%}
    qbr_app.threshold_status(
        {{ value }}, {{ t }}.direction, {{ t }}.green_min, {{ t }}.green_max,
        {{ t }}.yellow_min, {{ t }}.yellow_max
    )
{%- endmacro %}

{#- The yellow margin when a threshold gives none (METRICS.md 3 says yellow
    is "a margin around" green): min(half the green band width, a quarter
    of the edge's absolute value); a quarter of the edge when the band is
    one-sided. The default_thresholds seed was derived with the same rule. -#}
{% macro yellow_margin(green_min, green_max, edge) -%}
    case
        when {{ green_min }} is not null and {{ green_max }} is not null
            then least(
                ({{ green_max }} - {{ green_min }}) / 2.0,
                abs({{ edge }}) * 0.25
            )
        else abs({{ edge }}) * 0.25
    end
{%- endmacro %}
