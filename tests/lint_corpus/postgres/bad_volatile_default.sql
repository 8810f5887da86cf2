-- expect: require-lock-timeout@1 adding-field-with-default@1 adding-field-with-default@2
ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();
ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();
