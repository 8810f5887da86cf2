-- expect: renaming-column@2 renaming-table@3
SET lock_timeout = '2s';
ALTER TABLE orders RENAME COLUMN total TO amount;
ALTER TABLE orders RENAME TO purchases;
