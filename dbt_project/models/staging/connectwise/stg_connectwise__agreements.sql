with

source as (

    {{ qbr.select_source('connectwise', 'agreements', {
        'id': 'bigint',
        'name': 'text',
        'type__id': 'bigint',
        'type__name': 'text',
        'company__id': 'bigint',
        'start_date': 'timestamptz',
        'end_date': 'timestamptz',
        'no_ending_date_flag': 'boolean',
        'bill_amount': 'numeric',
        'cancelled_flag': 'boolean',
        'date_cancelled': 'timestamptz',
        'agreement_status': 'text',
        'billing_cycle__name': 'text',
        '_deleted_at': 'timestamptz',
    }) }}

),

renamed as (

    select
        id as agreement_id,
        name as agreement_name,
        type__id as agreement_type_id,
        type__name as agreement_type_name,
        company__id as company_id,
        -- Calendar dates sent as midnight UTC: take the UTC date part.
        {{ qbr.utc_date('start_date') }} as start_date,
        {{ qbr.utc_date('end_date') }} as end_date,
        {{ qbr.utc_date('date_cancelled') }} as cancelled_date,
        coalesce(no_ending_date_flag, false) as has_no_end_date,
        coalesce(cancelled_flag, false) as is_cancelled,
        coalesce(bill_amount, 0) as bill_amount,
        agreement_status,
        billing_cycle__name as billing_cycle_name
    from source
    where _deleted_at is null

)

select * from renamed
