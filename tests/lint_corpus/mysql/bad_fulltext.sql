-- expect: alter-table-blocks-writes@1 alter-table-algorithm@1
ALTER TABLE orders ADD FULLTEXT INDEX orders_note_ft (note);
