"""CRUD helpers: methods, where clauses, table metadata, the read cache."""
