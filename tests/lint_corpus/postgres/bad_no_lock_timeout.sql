-- expect: require-lock-timeout@1
ALTER TABLE orders ADD COLUMN note text;
ALTER TABLE orders DROP COLUMN legacy;
