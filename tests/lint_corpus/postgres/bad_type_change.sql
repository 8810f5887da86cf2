-- expect: require-lock-timeout@1 changing-column-type@1
ALTER TABLE orders ALTER COLUMN total TYPE numeric(12, 2);
