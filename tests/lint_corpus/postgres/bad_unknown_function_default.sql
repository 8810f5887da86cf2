-- expect: adding-field-with-default@2
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN code text DEFAULT make_code();
