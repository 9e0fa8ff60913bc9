{#- The smartnumbers mart as a table: the API reads it without
    recomputing the chain of views per request. Its rows are those of
    smartnumbers_live: the refresh builds them, and a manual entry or a
    threshold edit recomputes them in the same transaction (trigger of
    migration 0005, qbr_app.refresh_overlay_tables), so the change shows
    on the next read. -#}
{{ config(materialized='table', indexes=[{'columns': ['period']}]) }}

select * from {{ ref('smartnumbers_live') }}  -- noqa: AM04
