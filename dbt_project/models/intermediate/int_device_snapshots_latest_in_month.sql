{#- Heavy: the inventory holds one row per device per day per vendor. Keep
    only each vendor's latest snapshot date within each month (DESIGN.md
    decision 3: a month's devices are the distinct devices on that day,
    never device-days). Never a scan of all snapshots: the months come from
    the first and last snapshot dates, each vendor's latest date in a month
    is one backward index look-up, and only that date's rows are read. This
    relies on an index leading with snapshot_date on the inventory's
    device_snapshot (the MSP's table; its collectors create
    `(snapshot_date, vendor_id)`, docs/contracts.md). Incremental: a daily
    build re-reads only the months from (latest processed month - lookback),
    or from the refresh_since var (`qbr refresh --since YYYY-MM`) when
    earlier, and replaces them. One row per vendor, month and device: a unique
    index enforces it on every row written (a duplicate fails the model, so
    the build), where a data test re-read every month after each build. -#}
{{
    config(
        materialized='incremental',
        unique_key='snapshot_month',
        indexes=[{
            'columns': ['snapshot_month', 'vendor_id', 'device_identity_id'],
            'unique': true,
        }],
        post_hook="{{ qbr.set_not_null(['snapshot_month', 'device_identity_id']) }}",
    )
}}

{#- stg_inventory__device_snapshots is named in each CTE instead of one shared
    CTE: PostgreSQL materializes a CTE read twice, which would copy every
    snapshot. -#}
with

snapshot_range as (

    select
        cast(date_trunc('month', min(snapshot_date)) as date) as first_month,
        max(snapshot_date) as last_date
    from {{ ref('stg_inventory__device_snapshots') }}
    {% if is_incremental() %}
        where snapshot_date >= {{ qbr.incremental_first_month('snapshot_month') }}
    {% endif %}

),

months as (

    select cast(month_start as date) as snapshot_month
    from snapshot_range,
        lateral generate_series(
            first_month, last_date, interval '1 month'
        ) as month_start

),

-- the vendors the metrics read (a vendor without snapshots would make each
-- look-up walk the whole month)
vendors as (

    select * from {{ ref('stg_inventory__vendors') }}
    where
        vendor_name in (
            '{{ var("rmm_vendor") }}', '{{ var("security_vendor") }}'
        )

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
        vendors.vendor_id,
        months.snapshot_month,
        latest.snapshot_date as latest_snapshot_date
    from months
    cross join vendors
    cross join lateral (
        select in_month.snapshot_date
        from {{ ref('stg_inventory__device_snapshots') }} as in_month
        where
            in_month.vendor_id = vendors.vendor_id
            and in_month.snapshot_date >= months.snapshot_month
            and in_month.snapshot_date
            < months.snapshot_month + interval '1 month'
        order by in_month.snapshot_date desc
        limit 1
    ) as latest

),

latest_rows as (

    select snapshots.*
    from latest_dates
    -- one index range per (vendor, month); `offset 0` keeps it a per-row
    -- look-up (the planner cannot estimate how few months there are)
    cross join lateral (
        select on_date.*
        from {{ ref('stg_inventory__device_snapshots') }} as on_date
        where
            on_date.snapshot_date = latest_dates.latest_snapshot_date
            and on_date.vendor_id = latest_dates.vendor_id
        offset 0  -- noqa: AM09
    ) as snapshots

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
