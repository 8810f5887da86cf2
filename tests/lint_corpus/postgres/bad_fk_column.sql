-- expect: adding-foreign-key-constraint@2
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN shop_id bigint REFERENCES shops (id);
