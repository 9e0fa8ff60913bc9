{#- The relation has no rows: used with severity warn on the lists an
    analyst should work down (unmatched clients, unmapped accounts). -#}
{% test is_empty(model) %}

select * from {{ model }}

{% endtest %}
