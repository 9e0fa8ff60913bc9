{#- A post-hook: the columns of {{ this }} become NOT NULL, so every row
    written later is checked by the database (a null fails the model, and
    the build). Their `not_null` data tests stay and become free: PostgreSQL
    (17+) plans `column is null` on a NOT NULL column as false, reading
    nothing, where the test scanned the whole table on each build. Setting
    it again on a column that has it is a no-op (no scan); an incremental
    table copied by the refresh keeps it (`like ... including all`). -#}
{% macro set_not_null(columns) -%}
    alter table {{ this }}
    {%- for column in columns %}
        alter column {{ column }} set not null
        {{- "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
