{#- Counts and hours are never negative (METRICS.md 4). Nulls pass. -#}
{% test non_negative(model, column_name) %}

select *
from {{ model }}
where {{ column_name }} < 0

{% endtest %}
