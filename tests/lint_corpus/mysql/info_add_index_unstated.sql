-- expect: alter-table-algorithm@1
ALTER TABLE orders ADD INDEX orders_customer (customer_id);
