{#- Import a raw table typed, tolerant of what has not landed yet.

    dlt creates a table when a resource first yields rows and a column when
    a value first appears, and a source that is not configured never lands
    at all. Staging must still build then (a missing source means "no
    coverage", reported as null metrics, not a failed refresh), so:
    - each listed column is selected and cast to the given type;
    - a column the table does not have yet is selected as a typed null;
    - a table that does not exist yet gives a typed, empty relation.
    `columns` is an ordered mapping {column_name: sql_type}. Introspection is
    skipped while parsing and under the linter (var lint_mode). -#}
{% macro select_source(source_name, table_name, columns) -%}
    {{ return(adapter.dispatch('select_source', 'qbr')(
        source_name, table_name, columns)) }}
{%- endmacro %}

{% macro default__select_source(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set present = columns.keys() | list -%}
    {%- set exists = true -%}
    {%- if execute and not var('lint_mode', false) -%}
        {%- set found = adapter.get_relation(
            database=relation.database,
            schema=relation.schema,
            identifier=relation.identifier) -%}
        {%- if found is none -%}
            {%- set exists = false -%}
        {%- else -%}
            {%- set present = adapter.get_columns_in_relation(found)
                | map(attribute='name') | map('lower') | list -%}
        {%- endif -%}
    {%- endif %}
    select
    {%- for name, sql_type in columns.items() %}
        {% if exists and name in present -%}
            cast({{ name }} as {{ sql_type }})
        {%- else -%}
            cast(null as {{ sql_type }})
        {%- endif %} as {{ name }}
        {%- if not loop.last %},{% endif %}
    {%- endfor %}
    {%- if exists %}
    from {{ relation }}
    {%- else %}
    where false
    {%- endif %}
{%- endmacro %}

{#- Whether a source table exists (true while parsing / linting). -#}
{% macro source_exists(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and not var('lint_mode', false) -%}
        {%- set found = adapter.get_relation(
            database=relation.database,
            schema=relation.schema,
            identifier=relation.identifier) -%}
        {{ return(found is not none) }}
    {%- endif -%}
    {{ return(true) }}
{%- endmacro %}
