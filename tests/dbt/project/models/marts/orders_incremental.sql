-- The typed orders, built incrementally: a later run re-processes the last two days of orders
-- (delete+insert on order_id), so it deletes and re-inserts rows without changing the count.
{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert'
    )
}}

select
    order_id,
    customer_id,
    order_ts,
    amount,
    currency,
    status,
    region
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where order_ts >= (select max(order_ts) - interval '2 days' from {{ this }})
{% endif %}
