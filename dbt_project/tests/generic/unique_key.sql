{#- A key column: unique and never null, in one test node (one scan; for a
    view, one evaluation of it) where `unique` and `not_null` took two. A
    failing row is a key value held by more than one row, or null. -#}
{% test unique_key(model, column_name) %}

select
    {{ column_name }} as key_value,
    count(*) as rows_with_key
from {{ model }}
group by {{ column_name }}
having count(*) > 1 or {{ column_name }} is null

{% endtest %}
