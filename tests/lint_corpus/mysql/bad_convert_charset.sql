-- expect: alter-table-copy@1
-- dbkeeper:lint-disable-next alter-table-algorithm
ALTER TABLE orders CONVERT TO CHARACTER SET utf8mb4;
