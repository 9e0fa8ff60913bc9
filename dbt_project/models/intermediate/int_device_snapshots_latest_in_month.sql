{#- Heavy: the inventory holds one row per device per day per vendor. Keep
    only each vendor's latest snapshot date within each month (DESIGN.md
    decision 3: a month's devices are the distinct devices on that day,
    never device-days). Incremental: a daily build re-reads only the months
    from (latest processed month - lookback), or from the refresh_since var
    (`qbr refresh --since YYYY-MM`) when earlier, and replaces them. -#}
{{
    config(
        materialized='incremental',
        unique_key='snapshot_month',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['snapshot_month', 'vendor_id']}],
    )
}}

with

snapshots as (

    select * from {{ ref('stg_inventory__device_snapshots') }}
    {% if is_incremental() %}
        where snapshot_date >= (
            select
                least(
                    coalesce(
                        max(this.snapshot_month)
                        - interval '{{ var("incremental_lookback_months") }} month',
                        date '1900-01-01'
                    ),
                    {%- if var('refresh_since', none) %}
                    to_date('{{ var("refresh_since") }}', 'YYYY-MM')
                    {%- else %}
                    max(this.snapshot_month)
                    {%- endif %}
                )
            from {{ this }} as this
        )
    {% endif %}

),

vendors as (

    select * from {{ ref('stg_inventory__vendors') }}

),

device_identities as (

    select * from {{ ref('stg_inventory__device_identities') }}

),

billing_statuses as (

    select * from {{ ref('stg_inventory__billing_statuses') }}

),

device_types as (

    select * from {{ ref('stg_inventory__device_types') }}

),

latest_dates as (

    select
        vendor_id,
        snapshot_month,
        max(snapshot_date) as latest_snapshot_date
    from snapshots
    group by vendor_id, snapshot_month

),

latest_rows as (

    select snapshots.*
    from snapshots
    inner join latest_dates
        on
            snapshots.vendor_id = latest_dates.vendor_id
            and snapshots.snapshot_date = latest_dates.latest_snapshot_date

),

described as (

    select
        latest_rows.snapshot_month,
        latest_rows.snapshot_date,
        latest_rows.vendor_id,
        vendors.vendor_name,
        latest_rows.device_identity_id,
        device_identities.vendor_device_key,
        latest_rows.organization_name,
        latest_rows.hostname,
        latest_rows.display_name,
        latest_rows.location_name,
        latest_rows.node_class,
        billing_statuses.billing_status_code,
        device_types.device_type_code
    from latest_rows
    left join vendors
        on latest_rows.vendor_id = vendors.vendor_id
    left join device_identities
        on latest_rows.device_identity_id = device_identities.device_identity_id
    left join billing_statuses
        on latest_rows.billing_status_id = billing_statuses.billing_status_id
    left join device_types
        on latest_rows.device_type_id = device_types.device_type_id

)

select * from described
