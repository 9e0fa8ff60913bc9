{#- Several column checks of one model in one test node: `not_null` (a list
    of columns) and `accepted_values` (column: allowed values; nulls pass, as
    in dbt's own test). One scan and one node instead of one per column: a
    refresh's build pays dbt's per-node cost once. Returns one row per failing
    check, naming the check and the column, with the count of failing rows. -#}
{% test columns_valid(model, not_null=[], accepted_values={}) %}

select
    checks.check_name,
    count(*) as failing_rows
from {{ model }} as checked
cross join lateral (
    values
    {%- for column in not_null %}
    ('not_null: {{ column }}', checked.{{ column }} is null)
    {{- "," if not loop.last or accepted_values }}
    {%- endfor %}
    {%- for column, values in accepted_values.items() %}
    (
        'accepted_values: {{ column }}',
        checked.{{ column }} is not null
        and cast(checked.{{ column }} as text) not in (
            {%- for value in values -%}
            '{{ value }}'{{ ", " if not loop.last }}
            {%- endfor -%}
        )
    ){{ "," if not loop.last }}
    {%- endfor %}
) as checks (check_name, failed)
where checks.failed
group by checks.check_name

{% endtest %}
