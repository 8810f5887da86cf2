-- expect: drop-column-rewrite@1
ALTER TABLE users DROP COLUMN legacy;
