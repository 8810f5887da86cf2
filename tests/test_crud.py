"""The CRUD helpers on real SQLite, PostgreSQL and MySQL/MariaDB databases.

Every test runs on all three dialects. "Before any SQL" is proved on the
real server: the connection counts every statement it sends and logs each at
DEBUG, and the tables the refused call would have changed are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbkeeper import ClosedError, ConfigurationError, DatabaseManager, IntegrityError
from dbkeeper.crud.methods import MultipleRowsError, UnsafeWriteError
from dbkeeper.crud.table_meta import UnknownColumnError, UnknownTableError
from dbkeeper.crud.where import Fragment
from dbkeeper.urls import DatabaseURL

HOSTILE_VALUE = "'; DROP TABLE items; -- \" \\ % ? :name $1 ünï 🐘"
HOSTILE_TABLES = ['we"ird', "semi;colon; DROP TABLE items; --", "select", "ünïcode_tæble", "it's", "per%cent"]
HOSTILE_COLUMNS = ["order", 'col"q', "semi;col", "ünï", "50%", "it's", "from"]

DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest) -> DatabaseURL:
    value: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return value


@pytest.fixture
def db(url: DatabaseURL) -> Iterator[DatabaseManager]:
    manager = DatabaseManager(url)
    try:
        yield manager
    finally:
        manager.close_pool()


def auto_key(db: DatabaseManager) -> str:
    """An auto-generated integer primary key column definition for the dialect."""
    kind = db.get_connection().dialect.name
    return {"sqlite": "INTEGER PRIMARY KEY", "postgres": "SERIAL PRIMARY KEY",
            "mysql": "INTEGER AUTO_INCREMENT PRIMARY KEY"}[kind]


@pytest.fixture
def items(db: DatabaseManager) -> str:
    """``items``: generated id, unique sku, name, price, nullable note."""
    db.execute(f"CREATE TABLE items (id {auto_key(db)}, sku VARCHAR(50) NOT NULL UNIQUE, name VARCHAR(200), "
               "price INTEGER, note VARCHAR(200))")
    return "items"


def count(db: DatabaseManager, table: str = "items") -> int:
    return int(db.execute(f"SELECT COUNT(*) AS n FROM {db.get_connection().dialect.qualify(table)}").scalar())


def sent(db: DatabaseManager) -> int:
    """Statements the current connection has sent so far."""
    return int(db.get_connection().get_stats()["queries_executed"])


# -- round trips ---------------------------------------------------------------------------------
def test_insert_returns_the_generated_key_and_get_reads_the_row_back(db: DatabaseManager, items: str) -> None:
    first = db.insert(items, {"sku": "A-1", "name": "apple", "price": 3})
    second = db.insert(items, {"sku": "B-2", "name": "pear", "price": None})
    assert isinstance(first, int) and second == first + 1
    assert db.get(items, id=first) == {"id": first, "sku": "A-1", "name": "apple", "price": 3, "note": None}
    assert db.get(items, sku="B-2") == {"id": second, "sku": "B-2", "name": "pear", "price": None, "note": None}
    assert db.get(items, id=first + 100) is None


def test_insert_returns_the_given_key_and_a_dict_for_composite_keys(db: DatabaseManager) -> None:
    db.execute("CREATE TABLE stock (shop VARCHAR(10) NOT NULL, sku VARCHAR(10) NOT NULL, qty INTEGER, "
               "PRIMARY KEY (shop, sku))")
    assert db.insert("stock", {"shop": "AMS", "sku": "A-1", "qty": 4}) == {"shop": "AMS", "sku": "A-1"}
    db.execute("CREATE TABLE tags (name VARCHAR(20) PRIMARY KEY)")
    assert db.insert("tags", {"name": "red"}) == "red"
    db.execute("CREATE TABLE log_lines (line VARCHAR(20))")
    assert db.insert("log_lines", {"line": "no key here"}) is None
    assert db.get("stock", shop="AMS", sku="A-1") == {"shop": "AMS", "sku": "A-1", "qty": 4}


def test_insert_with_no_values_uses_the_defaults(db: DatabaseManager) -> None:
    db.execute(f"CREATE TABLE counters (id {auto_key(db)}, hits INTEGER DEFAULT 7)")
    key = db.insert("counters", {})
    assert db.get("counters", id=key) == {"id": key, "hits": 7}


def test_insert_many_round_trips_rows_all_or_nothing(db: DatabaseManager, items: str) -> None:
    rows = [{"sku": f"S-{i}", "name": f"n{i}", "price": i, "note": None if i % 2 else HOSTILE_VALUE}
            for i in range(50)]
    assert db.insert_many(items, rows) == 50
    assert db.insert_many(items, []) == 0
    back = db.select(items, columns=["sku", "name", "price", "note"], order_by="price")
    assert back == rows
    with pytest.raises(IntegrityError):
        db.insert_many(items, [{"sku": "NEW", "name": "x", "price": 1, "note": None},
                               {"sku": "S-1", "name": "dup", "price": 1, "note": None}])
    assert count(db) == 50


def test_insert_many_refuses_rows_with_different_columns(db: DatabaseManager, items: str) -> None:
    with pytest.raises(ConfigurationError, match="row 2 has columns"):
        db.insert_many(items, [{"sku": "a", "name": "x"}, {"sku": "b"}])
    assert count(db) == 0


def test_select_filters_orders_limits_and_offsets(db: DatabaseManager, items: str) -> None:
    db.insert_many(items, [{"sku": f"S-{i}", "name": f"n{i % 3}", "price": i, "note": None if i % 2 else "even"}
                           for i in range(10)])
    prices = lambda rows: [r["price"] for r in rows]  # noqa: E731
    assert prices(db.select(items, order_by="price")) == list(range(10))
    assert prices(db.select(items, order_by="-price", limit=3)) == [9, 8, 7]
    assert prices(db.select(items, order_by=("price", "desc"), limit=2, offset=1)) == [8, 7]
    assert prices(db.select(items, order_by=["name", ("price", "DESC")])) == [9, 6, 3, 0, 7, 4, 1, 8, 5, 2]
    assert prices(db.select(items, order_by="price", offset=8)) == [8, 9]
    assert prices(db.select(items, where={"name": "n1"}, order_by="price")) == [1, 4, 7]
    assert prices(db.select(items, where={"price": [2, 3, 99]}, order_by="price")) == [2, 3]
    assert db.select(items, where={"price": []}) == []
    assert prices(db.select(items, where={"note": None}, order_by="price")) == [1, 3, 5, 7, 9]
    assert prices(db.select(items, where={"note": ["even", None], "name": "n0"}, order_by="price")) == [0, 3, 6, 9]
    assert sorted(prices(db.select(items, where={"name": "n2", "note": "even"}))) == [2, 8]
    assert db.select(items, where={"sku": "S-4"}, columns=["sku", "price"]) == [{"sku": "S-4", "price": 4}]
    assert db.select(items, limit=0) == []


def test_select_takes_explicit_parameterised_fragments(db: DatabaseManager, items: str) -> None:
    db.insert_many(items, [{"sku": f"S-{i}", "name": f"n{i}", "price": i} for i in range(6)])
    assert [r["price"] for r in db.select(items, where=Fragment("price >= ? AND price < ?", (2, 4)),
                                          order_by="price")] == [2, 3]
    assert [r["price"] for r in db.select(items, where=("price > ?", [3]), order_by="price")] == [4, 5]
    assert [r["price"] for r in db.select(items, where=Fragment("price BETWEEN :lo AND :hi", {"lo": 1, "hi": 2}),
                                          order_by="price")] == [1, 2]
    assert db.update(items, {"note": "cheap"}, where=Fragment("price < :limit", {"limit": 2})) == 2
    assert db.delete(items, where=Fragment("note = ?", ("cheap",))) == 2
    assert count(db) == 4


def test_fragments_without_values_keep_their_percent_signs(db: DatabaseManager, items: str) -> None:
    db.insert_many(items, [{"sku": "a1", "name": "50% off"}, {"sku": "b1", "name": "full price"}])
    assert db.select(items, where=Fragment("name LIKE '%!% off' ESCAPE '!'"), columns=["sku"]) == [{"sku": "a1"}]
    assert db.select(items, where=Fragment("name LIKE '50%'"), columns=["sku"]) == [{"sku": "a1"}]
    assert db.update(items, {"note": "sale"}, where=Fragment("name LIKE '%off'")) == 1
    assert db.select(items, where=Fragment("sku LIKE ? AND name LIKE '%off'", ("a%",)), columns=["note"]) == [
        {"note": "sale"}]
    assert db.delete(items, where=Fragment("name LIKE 'full%'")) == 1


def test_get_handles_null_keys_and_refuses_ambiguous_ones(db: DatabaseManager, items: str) -> None:
    db.insert(items, {"sku": "A", "name": "same", "price": None})
    db.insert(items, {"sku": "B", "name": "same", "price": 2})
    assert db.get(items, price=None)["sku"] == "A"  # type: ignore[index]
    with pytest.raises(MultipleRowsError, match="not a key"):
        db.get(items, name="same")
    with pytest.raises(ConfigurationError, match="needs key columns"):
        db.get(items)


def test_get_accepts_columns_named_like_its_parameters(db: DatabaseManager) -> None:
    db.execute("CREATE TABLE oddities (self INTEGER PRIMARY KEY, " + db.get_connection().dialect.quote_identifier(
        "table") + " VARCHAR(10))")
    db.insert("oddities", {"self": 1, "table": "t"})
    assert db.get("oddities", self=1, table="t") == {"self": 1, "table": "t"}


def test_update_and_delete_report_rows_affected(db: DatabaseManager, items: str) -> None:
    db.insert_many(items, [{"sku": f"S-{i}", "name": "x", "price": i} for i in range(5)])
    assert db.update(items, {"note": "low", "name": "y"}, where={"price": [0, 1, 2]}) == 3
    assert db.update(items, {"note": "none"}, where={"sku": "missing"}) == 0
    assert db.delete(items, where={"note": "low"}) == 3
    assert db.update(items, {"note": "all"}, all_rows=True) == 2
    assert db.delete(items, all_rows=True) == 2
    assert count(db) == 0


def test_upsert_inserts_then_updates(db: DatabaseManager, items: str) -> None:
    key = db.upsert(items, {"sku": "U-1", "name": "first", "price": 1}, conflict=["sku"])
    assert db.get(items, id=key) == {"id": key, "sku": "U-1", "name": "first", "price": 1, "note": None}
    again = db.upsert(items, {"sku": "U-1", "name": "second", "price": 2}, conflict="sku")
    assert again == key
    assert db.get(items, id=key) == {"id": key, "sku": "U-1", "name": "second", "price": 2, "note": None}
    assert db.upsert(items, {"sku": "U-1", "name": "ignored", "price": 3}, conflict="sku", update=[]) == key
    assert db.upsert(items, {"sku": "U-1", "name": "only name", "price": 4}, conflict="sku", update=["name"]) == key
    assert db.get(items, id=key) == {"id": key, "sku": "U-1", "name": "only name", "price": 2, "note": None}
    assert count(db) == 1


def test_upsert_on_the_primary_key_by_default(db: DatabaseManager) -> None:
    db.execute("CREATE TABLE settings (name VARCHAR(40) PRIMARY KEY, value VARCHAR(200))")
    assert db.upsert("settings", {"name": "theme", "value": "dark"}) == "theme"
    assert db.upsert("settings", {"name": "theme", "value": HOSTILE_VALUE}) == "theme"
    assert db.select("settings") == [{"name": "theme", "value": HOSTILE_VALUE}]


def test_upsert_refuses_what_it_cannot_do_before_any_sql(db: DatabaseManager, items: str) -> None:
    db.select(items)  # describe the table first, so only the refused calls are measured
    before = sent(db)
    with pytest.raises(ConfigurationError, match="conflict columns"):
        db.upsert(items, {"name": "no sku"}, conflict="sku")
    with pytest.raises(ConfigurationError, match="update names"):
        db.upsert(items, {"sku": "a"}, conflict="sku", update=["name"])
    db.execute("CREATE TABLE heap (x INTEGER)")
    with pytest.raises(ConfigurationError, match="no primary key"):
        db.upsert("heap", {"x": 1})
    assert count(db, "heap") == 0
    assert sent(db) - before <= 3  # the CREATE, the COUNT and at most one table listing


# -- transactions --------------------------------------------------------------------------------------
def test_helpers_join_a_transaction_and_roll_back_with_it(db: DatabaseManager, items: str) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        key = tx.insert(items, {"sku": "T-1", "name": "in tx", "price": 1})
        assert tx.get(items, id=key) is not None
        db.insert(items, {"sku": "T-2", "name": "joins the same tx"})
        assert tx.update(items, {"price": 5}, where={"sku": "T-2"}) == 1
        assert len(tx.select(items)) == 2
        raise RuntimeError("roll back")
    assert count(db) == 0
    with db.transaction() as tx:
        tx.insert_many(items, [{"sku": "C-1"}, {"sku": "C-2"}])
        tx.upsert(items, {"sku": "C-1", "name": "upserted"}, conflict="sku")
        tx.delete(items, where={"sku": "C-2"})
    assert db.select(items, columns=["sku", "name"]) == [{"sku": "C-1", "name": "upserted"}]


def test_helpers_on_a_connection_and_a_savepoint(db: DatabaseManager, items: str) -> None:
    connection = db.get_connection()
    connection.insert(items, {"sku": "K-1"})
    with connection.transaction() as outer:
        outer.insert(items, {"sku": "K-2"})
        with pytest.raises(ValueError, match="only the savepoint"), connection.transaction() as inner:
            inner.insert(items, {"sku": "K-3"})
            raise ValueError("only the savepoint")
    assert [r["sku"] for r in connection.select(items, order_by="sku")] == ["K-1", "K-2"]


# -- refusals happen before any SQL --------------------------------------------------------------------------
def test_update_and_delete_without_where_are_refused_before_any_sql(db: DatabaseManager, items: str,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    db.insert_many(items, [{"sku": f"S-{i}", "price": i} for i in range(3)])
    before = sent(db)
    caplog.set_level(logging.DEBUG, logger="dbkeeper")
    for call in (lambda: db.delete(items), lambda: db.delete(items, where={}),
                 lambda: db.update(items, {"price": 0}), lambda: db.update(items, {"price": 0}, where={}),
                 lambda: db.delete("no_such_table"), lambda: db.update("no_such_table", {"x": 1})):
        with pytest.raises(UnsafeWriteError, match="all_rows=True"):
            call()
    assert sent(db) == before
    assert not [r for r in caplog.records if "ms," in r.getMessage()]
    assert count(db) == 3
    assert [r["price"] for r in db.select(items, order_by="price")] == [0, 1, 2]


def test_bad_arguments_are_refused_before_any_sql(db: DatabaseManager, items: str) -> None:
    db.select(items)
    before = sent(db)
    with pytest.raises(ConfigurationError, match="bare SQL string"):
        db.delete(items, where="1 = 1")
    with pytest.raises(ConfigurationError, match="non-negative integer"):
        db.select(items, limit=-1)
    with pytest.raises(ConfigurationError, match="non-negative integer"):
        db.select(items, offset=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="values is empty"):
        db.update(items, {}, where={"id": 1})
    with pytest.raises(ConfigurationError, match="order_by"):
        db.select(items, order_by=[("price", "sideways")])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="values must be a dict"):
        db.insert(items, [("sku", "x")])  # type: ignore[arg-type]
    assert sent(db) == before


def test_unknown_tables_and_columns_are_refused_before_the_statement(db: DatabaseManager, items: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    db.insert(items, {"sku": "keep", "price": 1})
    caplog.set_level(logging.DEBUG, logger="dbkeeper")
    with pytest.raises(UnknownTableError, match="did you mean 'items'"):
        db.delete("itemz", where={"id": 1})
    with pytest.raises(UnknownColumnError, match="did you mean 'price'"):
        db.delete(items, where={"prize": 1})
    with pytest.raises(UnknownColumnError, match="no column"):
        db.update(items, {"price; DROP TABLE items": 0}, where={"sku": "keep"})
    with pytest.raises(UnknownColumnError):
        db.upsert(items, {"sku": "keep", "bogus": 1}, conflict="sku")
    with pytest.raises(UnknownColumnError, match="order_by column"):
        db.select(items, order_by="-bogus")
    with pytest.raises(UnknownColumnError):
        db.get(items, idd=1)
    with pytest.raises(UnknownTableError):
        db.insert("Items" if db.get_connection().dialect.name != "sqlite" else "itemss", {"sku": "x"})
    statements = [r.getMessage() for r in caplog.records if "ms," in r.getMessage()]
    assert not [s for s in statements if any(word in s for word in ("DELETE", "UPDATE", "INSERT", "itemz"))]
    assert db.select(items, columns=["sku", "price"]) == [{"sku": "keep", "price": 1}]


def test_a_column_added_later_is_found_by_describing_the_table_again(db: DatabaseManager, items: str) -> None:
    db.insert(items, {"sku": "a"})
    db.execute("ALTER TABLE items ADD COLUMN colour VARCHAR(20)")
    db.update(items, {"colour": "red"}, where={"sku": "a"})
    assert db.get(items, sku="a")["colour"] == "red"  # type: ignore[index]


# -- hostile identifiers and values ---------------------------------------------------------------------------
@pytest.mark.parametrize("table", HOSTILE_TABLES)
def test_hostile_identifiers_round_trip_through_every_helper(db: DatabaseManager, table: str) -> None:
    dialect = db.get_connection().dialect
    q = dialect.quote_identifier
    columns = ", ".join(f"{q(c)} VARCHAR(100)" for c in HOSTILE_COLUMNS)
    db.execute(f"CREATE TABLE {q(table)} (id INTEGER PRIMARY KEY, {columns})")
    row = {"id": 1, **{c: f"v-{c}" for c in HOSTILE_COLUMNS}}
    assert db.insert(table, row) == 1
    assert db.insert_many(table, [{**row, "id": 2}, {**row, "id": 3}]) == 2
    assert db.get(table, id=1) == row
    for column in HOSTILE_COLUMNS:
        assert db.get(table, **{"id": 1, column: f"v-{column}"}) == row
        found = db.select(table, where={column: f"v-{column}"}, columns=["id", column], order_by=f"-{column}")
        assert sorted(r["id"] for r in found) == [1, 2, 3]
    assert db.update(table, dict.fromkeys(HOSTILE_COLUMNS, HOSTILE_VALUE), where={"id": 2, "order": "v-order"}) == 1
    assert db.get(table, id=2) == {"id": 2, **dict.fromkeys(HOSTILE_COLUMNS, HOSTILE_VALUE)}
    assert db.upsert(table, {**row, "id": 3, "50%": "upserted"}) == 3
    assert db.get(table, id=3)["50%"] == "upserted"  # type: ignore[index]
    assert db.delete(table, where={"semi;col": HOSTILE_VALUE}) == 1
    assert sorted(r["id"] for r in db.select(table)) == [1, 3]
    assert table in db.get_tables()


def test_hostile_values_are_bound_not_formatted(db: DatabaseManager, items: str) -> None:
    db.execute("CREATE TABLE x (id INTEGER PRIMARY KEY)")
    hostile = "'; DROP TABLE x; --"
    key = db.insert(items, {"sku": hostile, "name": HOSTILE_VALUE, "note": hostile})
    assert db.get(items, sku=hostile)["name"] == HOSTILE_VALUE  # type: ignore[index]
    assert db.select(items, where={"note": [hostile, HOSTILE_VALUE]}, columns=["id"]) == [{"id": key}]
    assert db.update(items, {"name": hostile}, where={"sku": hostile}) == 1
    assert db.upsert(items, {"sku": hostile, "note": HOSTILE_VALUE}, conflict="sku") == key
    assert db.select(items, where=Fragment("note = ?", (HOSTILE_VALUE,)), columns=["name"]) == [{"name": hostile}]
    assert db.delete(items, where={"name": hostile}) == 1
    assert sorted(db.get_tables()) == ["items", "x"]


# -- compatibility entry points -------------------------------------------------------------------------------
def test_manager_accepts_a_configuration_dict(url: DatabaseURL, tmp_path: Path) -> None:
    if url.scheme == "sqlite":
        config = {"dialect": "sqlite", "database": str(tmp_path / "from_dict.db")}
    else:
        config = {"dialect": url.scheme, "user": url.username, "password": url.password, "host": url.host,
                  "port": url.port, "database": url.database, "pool_size": 2}
    manager = DatabaseManager(config)
    try:
        assert manager.execute_query("SELECT 1 AS one", None) == [{"one": 1}]
        assert manager.execute_query("SELECT ? AS v", (7,)) == [{"v": 7}]
        assert manager.execute_query(manager.get_connection().name, "SELECT 2 AS two") == [{"two": 2}]
    finally:
        manager.close_pool()
    with pytest.raises(ClosedError):
        manager.execute("SELECT 1")
    manager.get_connection().connect()
    assert manager.execute("SELECT 3 AS three").scalar() == 3
    manager.close_pool()


def test_helpers_on_a_closed_pool_say_so(db: DatabaseManager, items: str) -> None:
    db.insert(items, {"sku": "a"})
    db.close_pool()
    with pytest.raises(ClosedError):
        db.get(items, sku="a")
    with pytest.raises(ClosedError):
        db.select("never_described")


def test_configuration_dicts_default_to_postgresql_and_reject_unknown_keys() -> None:
    from dbkeeper.engine.manager import _url_from_config

    url, options, name = _url_from_config({"user": "app", "password": "s3cret!", "host": "db", "port": "5433",
                                           "database": "shop", "pool_size": 4, "name": "main"})
    assert (url.scheme, url.username, url.host, url.port, url.database) == ("postgresql", "app", "db", 5433, "shop")
    assert options == {"pool_size": 4} and name == "main"
    assert "s3cret!" not in repr(url)
    with pytest.raises(ConfigurationError, match="unknown keys \\['passwd'\\]") as info:
        DatabaseManager({"user": "app", "passwd": "s3cret!", "host": "db"})
    assert "s3cret!" not in str(info.value)


def test_helpers_log_what_they_did_without_the_values(db: DatabaseManager, items: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dbkeeper")
    db.insert(items, {"sku": "secret-sku-value", "name": "n"})
    db.update(items, {"name": "m"}, where={"sku": "secret-sku-value"})
    db.delete(items, where={"sku": "secret-sku-value"})
    messages = [r.getMessage() for r in caplog.records]
    assert any("insert into items" in m for m in messages)
    assert any("update items: 1 rows" in m for m in messages)
    assert any("delete from items: 1 rows" in m for m in messages)
    assert not any("secret-sku-value" in m for m in messages)
