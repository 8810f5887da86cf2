-- expect: require-lock-timeout@1 adding-not-nullable-field@1
ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;
