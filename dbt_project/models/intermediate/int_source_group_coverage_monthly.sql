{#- int_source_coverage_monthly in long form: per month and source group
    (the metric catalogue's source_group), whether the group covers the
    month and why not. ThreatLocker-covered endpoints also need the
    NinjaOne inventory. Read by metrics_monthly_collected and
    client_metrics_monthly to turn "no record" into 0 or null. -#}
with

coverage as (

    select * from {{ ref('int_source_coverage_monthly') }}

)

select
    coverage.month_start,
    covered.source_group,
    covered.is_covered,
    covered.reason
from coverage
cross join lateral (
    values
    {%- for group in ['connectwise', 'agreements', 'quickbooks', 'inventory'] %}
        (
            '{{ group }}',
            coverage.has_{{ group }},
            coverage.{{ group }}_reason
        ),
    {%- endfor %}
    (
        'security_inventory',
        coverage.has_security_inventory and coverage.has_inventory,
        coverage.security_inventory_reason
    )
) as covered (source_group, is_covered, reason)
