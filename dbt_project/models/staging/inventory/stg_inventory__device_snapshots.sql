{#- One flat select over a subquery, no CTE: PostgreSQL inlines a view
    without CTEs into its reader, so int_device_snapshots_latest_in_month's
    look-ups by snapshot_date use the inventory's index. -#}
select
    id as device_snapshot_id,
    snapshot_date,
    vendor_id,
    device_identity_id,
    site_id,
    device_type_id,
    billing_status_id,
    hostname,
    os_name,
    organization_name,
    display_name,
    location_name,
    device_status,
    node_class,
    cast(date_trunc('month', snapshot_date) as date) as snapshot_month
from (

    {{ qbr.select_source('inventory', 'device_snapshot', {
        'id': 'bigint',
        'snapshot_date': 'date',
        'vendor_id': 'bigint',
        'device_identity_id': 'bigint',
        'site_id': 'bigint',
        'device_type_id': 'bigint',
        'billing_status_id': 'bigint',
        'hostname': 'text',
        'os_name': 'text',
        'organization_name': 'text',
        'display_name': 'text',
        'location_name': 'text',
        'device_status': 'text',
        'node_class': 'text',
    }) }}

) as raw_snapshots
