-- expect: alter-table-copy@1
ALTER TABLE orders MODIFY total BIGINT;
