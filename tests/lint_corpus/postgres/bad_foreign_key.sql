-- expect: adding-foreign-key-constraint@2 constraint-missing-not-valid@2
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
