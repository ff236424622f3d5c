-- The CSV landing copy of the orders with its text columns typed; the card number stays behind.
select
    cast(order_id as bigint) as order_id,
    cast(customer_id as bigint) as customer_id,
    cast(order_ts as timestamptz) as order_ts,
    cast(amount as numeric(12, 2)) as amount,
    currency,
    status,
    region,
    cast(order_date as date) as order_date,
    ingest_date
from {{ source('raw', 'orders_csv') }}
