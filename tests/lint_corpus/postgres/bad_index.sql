-- expect: require-lock-timeout@1 require-concurrent-index-creation@1
CREATE INDEX orders_customer_idx ON orders (customer_id);
