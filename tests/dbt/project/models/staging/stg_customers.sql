-- Customers without their contact details (email and phone are PII).
select
    customer_id,
    name,
    country,
    segment,
    signup_date
from {{ source('sales', 'customers') }}
