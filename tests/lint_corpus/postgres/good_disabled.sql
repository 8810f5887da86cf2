-- expect:
-- dbkeeper:lint-disable require-lock-timeout, require-concurrent-index-creation
CREATE INDEX orders_customer_idx ON orders (customer_id);
