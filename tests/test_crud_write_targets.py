"""Which tables a raw statement may change (the read cache's invalidation rules).

The rule that matters for safety: no statement that can change data is ever
classified as a read. Getting the table wrong in the other direction (more
than needed) only costs cache hits.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbkeeper.sql.write_targets import EVERYTHING, write_targets


@pytest.mark.parametrize("sql", [
    "SELECT * FROM items WHERE id = ?",
    "  select count(*) from items",
    "WITH recent AS (SELECT * FROM items) SELECT * FROM recent",
    "VALUES (1, 2)",
    "SHOW TABLES",
    "EXPLAIN SELECT * FROM items",
    "PRAGMA table_info(items)",
    "SELECT 'DELETE FROM items' AS text_only, \"update\" FROM items",
    "SELECT * FROM items -- DELETE FROM items\n",
    "BEGIN", "START TRANSACTION", "SAVEPOINT sp1", "RELEASE SAVEPOINT sp1", "ROLLBACK TO SAVEPOINT sp1", "ROLLBACK",
])
def test_reads_and_transaction_control_change_nothing(sql: str) -> None:
    assert write_targets(sql) is None


@pytest.mark.parametrize(("sql", "table"), [
    ("INSERT INTO items (id) VALUES (?)", "items"),
    ("insert into Items(id) values (1)", "items"),
    ('INSERT INTO "We""ird" ("a") VALUES (%s)', 'we"ird'),
    ("INSERT INTO `back``tick` (`a`) VALUES (%s)", "back`tick"),
    ("INSERT OR REPLACE INTO items VALUES (1)", "items"),
    ("INSERT IGNORE INTO items SET id = 1", "items"),
    ("INSERT INTO public.items SELECT * FROM other", "items"),
    ("INSERT INTO items (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET id = excluded.id RETURNING id", "items"),
    ("REPLACE INTO items VALUES (1)", "items"),
    ('UPDATE "items" SET "val" = ? WHERE "id" = ?', "items"),
    ("UPDATE LOW_PRIORITY items SET val = 1", "items"),
    ("DELETE FROM items WHERE id = 1", "items"),
    ("DELETE FROM items", "items"),
    ("DELETE FROM items;", "items"),
    ("DELETE FROM ünïcode_tæble WHERE x = 1", "ünïcode_tæble"),
    ('DELETE FROM "semi;colon; DROP TABLE x" WHERE a = 1', "semi;colon; drop table x"),
    ("TRUNCATE TABLE items", "items"),
    ("TRUNCATE items CASCADE", "items"),
])
def test_plain_writes_name_their_table(sql: str, table: str) -> None:
    assert write_targets(sql) == frozenset({table})


@pytest.mark.parametrize("sql", [
    "WITH gone AS (DELETE FROM items RETURNING *) SELECT * FROM gone",
    "SELECT * INTO copy FROM items",
    "SELECT * FROM items FOR UPDATE",
    "EXPLAIN ANALYZE DELETE FROM items",
    "PRAGMA user_version = 3",
    "UPDATE ONLY items SET val = 1",
    "DELETE FROM ONLY items",
    "UPDATE items AS i SET val = 1",
    "UPDATE a JOIN b ON a.id = b.id SET b.x = 1",
    "DELETE a, b FROM a JOIN b ON a.id = b.id",
    "DELETE FROM a, b USING a JOIN b",
    "TRUNCATE a, b",
    "INSERT INTO items VALUES (1); DELETE FROM other",
    'INSERT INTO "per%cent" VALUES (1)',
    "CREATE TABLE t (id INTEGER)", "ALTER TABLE items ADD COLUMN x INTEGER", "DROP TABLE items",
    "COMMIT", "SET search_path = other", "CALL refresh()", "COPY items FROM STDIN", "VACUUM",
    "MERGE INTO items USING src ON (items.id = src.id) WHEN MATCHED THEN DELETE",
    "/* comment */ DELETE FROM items", "", "   ",
    # a backslash ends the literal on PostgreSQL and SQLite but escapes the quote on MySQL: either reading counts
    "SELECT 'a\\' ; DELETE FROM items; --'",
    "SELECT 'a\\'' ; DELETE FROM items; --'",
    "UPDATE items SET val = 'x\\'; DELETE FROM other; --'",
])
def test_anything_unclear_changes_everything(sql: str) -> None:
    assert write_targets(sql) is EVERYTHING


NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)


@given(name=NAMES, verb=st.sampled_from(["INSERT INTO {} (a) VALUES (1)", "UPDATE {} SET a = 1",
                                         "DELETE FROM {} WHERE a = 1", "TRUNCATE TABLE {}"]),
       quote=st.sampled_from(['"', "`"]))
def test_writes_to_any_quoted_table_are_never_missed(name: str, verb: str, quote: str) -> None:
    quoted = quote + name.replace(quote, quote * 2) + quote
    targets = write_targets(verb.format(quoted))
    assert targets is EVERYTHING or targets == frozenset({name.casefold()})
    if "%" not in name:
        assert targets == frozenset({name.casefold()})


@given(sql=st.text(max_size=60), verb=st.sampled_from(["insert", "update", "delete", "replace", "truncate",
                                                       "merge", "create", "drop", "alter", "commit"]))
def test_a_statement_starting_with_a_write_verb_is_never_a_read(sql: str, verb: str) -> None:
    assert write_targets(f"{verb} {sql}") is not None
