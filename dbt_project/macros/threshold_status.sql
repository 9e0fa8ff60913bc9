{#- green / yellow / red of a value against a threshold band (METRICS.md 3).
    higher_is_better: green from green_min up, yellow from yellow_min up.
    lower_is_better: green up to green_max, yellow up to yellow_max.
    in_range: green inside [green_min, green_max], yellow inside
    [yellow_min, yellow_max]. Anything else red; a null value or no
    threshold gives null. `t` is the thresholds relation alias. -#}
{% macro threshold_status(value, t) -%}
    case
        when {{ value }} is null or {{ t }}.direction is null then null
        when {{ t }}.direction = 'higher_is_better' then
            case
                when {{ value }} >= {{ t }}.green_min then 'green'
                when {{ value }} >= {{ t }}.yellow_min then 'yellow'
                else 'red'
            end
        when {{ t }}.direction = 'lower_is_better' then
            case
                when {{ value }} <= {{ t }}.green_max then 'green'
                when {{ value }} <= {{ t }}.yellow_max then 'yellow'
                else 'red'
            end
        when
            {{ value }} >= coalesce({{ t }}.green_min, {{ value }})
            and {{ value }} <= coalesce({{ t }}.green_max, {{ value }})
            then 'green'
        when
            {{ value }} >= coalesce({{ t }}.yellow_min, {{ value }})
            and {{ value }} <= coalesce({{ t }}.yellow_max, {{ value }})
            then 'yellow'
        else 'red'
    end
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
