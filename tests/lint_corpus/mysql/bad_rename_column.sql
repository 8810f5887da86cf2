-- expect: renaming-column@1
ALTER TABLE orders RENAME COLUMN total TO amount, ALGORITHM=INSTANT;
