-- Revenue per customer: the Delta customers joined with the Parquet orders. Every customer has a
-- row, customers without orders with revenue 0.
select
    c.customer_id,
    c.name,
    c.segment,
    coalesce(sum(o.amount), 0) as revenue,
    count(o.order_id) as n_orders
from {{ source('sales', 'customers') }} c
left join {{ source('sales', 'orders') }} o on o.customer_id = c.customer_id
group by 1, 2, 3
