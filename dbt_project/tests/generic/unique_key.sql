{#- A key column: unique and never null, in one test node (one scan; for a
    view, one evaluation of it) where `unique` and `not_null` took two. A
    failing row is a key value held by more than one row, or null.
    When the database itself guarantees both (a table whose key column is
    NOT NULL and has a valid unique index on that column alone, checked in
    the catalog as the test runs), no row can fail and the scan is skipped
    (a one-time filter): the same answer without re-grouping every key of a
    large table on each build. -#}
{% test unique_key(model, column_name) %}

select
    {{ column_name }} as key_value,
    count(*) as rows_with_key
from {{ model }}
where not {{ qbr.key_enforced_by_table(model, column_name) }}
group by {{ column_name }}
having count(*) > 1 or {{ column_name }} is null

{% endtest %}
