{#- Normalized organisation name for cross-system matching (METRICS.md 5):
    lower case, '&' read as 'and', punctuation dropped, legal suffixes
    (LLC, Inc., Corp., Co., Ltd., PLLC, ...) removed at the end, spaces
    collapsed. "Acme & Sons, Inc." and "ACME and Sons" both give
    "acme and sons". -#}
{% macro normalize_name(column) -%}
    {{ return(adapter.dispatch('normalize_name', 'qbr')(column)) }}
{%- endmacro %}

{% macro postgres__normalize_name(column) -%}
    nullif(trim(regexp_replace(regexp_replace(regexp_replace(
        regexp_replace(lower(coalesce({{ column }}, '')), '&', ' and ', 'g'),
        '[^a-z0-9 ]+', ' ', 'g'),
        '(\s+(llc|inc|incorporated|corp|corporation|co|company|ltd|limited|pllc|llp|lp|pc|pa))+\s*$',
        '', 'g'),
        '\s+', ' ', 'g')), '')
{%- endmacro %}
