{#- True when `relation` is a table whose `column_name` is NOT NULL and
    carries a valid unique index on that column alone (no expression, no
    predicate): the database then refuses a duplicate or null key on every
    write. False for a view or anything else. Read from the catalog when the
    query runs. -#}
{% macro key_enforced_by_table(relation, column_name) -%}
    exists (
        select
        from pg_catalog.pg_index as key_index
        inner join pg_catalog.pg_attribute as key_column
            on
                key_index.indrelid = key_column.attrelid
                and key_index.indkey[0] = key_column.attnum
        where
            key_index.indrelid = to_regclass('{{ relation }}')
            and key_index.indisunique
            and key_index.indisvalid
            and key_index.indnatts = 1
            and key_index.indexprs is null
            and key_index.indpred is null
            and key_column.attname = '{{ column_name }}'
            and key_column.attnotnull
    )
{%- endmacro %}
