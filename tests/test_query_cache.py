"""The opt-in read cache on real SQLite, PostgreSQL and MySQL/MariaDB databases.

The central promise: the cache never serves a row after a write through the
manager has changed it. It is checked case by case (each kind of write, each
way a write reaches the table) and as a property over random sequences of
reads and writes compared against a plain dict model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dbkeeper import ConfigurationError, DatabaseConnection, DatabaseManager
from dbkeeper.crud.read_cache import QueryCache
from dbkeeper.urls import DatabaseURL

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
    manager = DatabaseManager(url, cache=QueryCache(max_entries=100, ttl=300))
    try:
        yield manager
    finally:
        manager.close_pool()


@pytest.fixture
def items(db: DatabaseManager) -> str:
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, grp INTEGER, val VARCHAR(50))")
    db.insert_many("items", [{"id": i, "grp": i % 3, "val": f"v{i}"} for i in range(1, 7)])
    return "items"


def stats(db: DatabaseManager) -> dict[str, Any]:
    cache: dict[str, Any] = db.get_database_stats()["cache"]
    return cache


def sent(db: DatabaseManager) -> int:
    return int(db.get_connection().get_stats()["queries_executed"])


# -- basics -----------------------------------------------------------------------------------------
def test_the_cache_is_off_by_default(url: DatabaseURL) -> None:
    manager = DatabaseManager(url)
    try:
        manager.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        manager.insert("t", {"id": 1})
        manager.get("t", id=1)
        manager.get("t", id=1)
        assert manager.cache is None and manager.get_connection().query_cache is None
        assert manager.get_database_stats()["cache"] == {"enabled": False, "hits": 0, "misses": 0}
    finally:
        manager.close_pool()


def test_repeated_reads_are_served_from_the_cache(db: DatabaseManager, items: str) -> None:
    first = db.get(items, id=1)
    before = sent(db)
    for _ in range(5):
        assert db.get(items, id=1) == first
        assert len(db.select(items, where={"grp": 1})) == 2
    assert sent(db) == before + 1  # only the first select reached the database
    counters = stats(db)
    assert counters["enabled"] is True
    assert counters["hits"] == 9 and counters["misses"] == 2
    assert counters["entries"] == 2


def test_callers_cannot_corrupt_cached_rows(db: DatabaseManager, items: str) -> None:
    row = db.get(items, id=1)
    assert row is not None
    row["val"] = "mutated"
    again = db.get(items, id=1)
    assert again is not None and again["val"] == "v1"
    again["val"] = "mutated again"
    assert db.get(items, id=1)["val"] == "v1"  # type: ignore[index]


@pytest.mark.parametrize("write", [
    "insert", "insert_many", "update", "delete", "upsert", "execute", "execute_many", "bulk_insert",
    "transaction", "connection_execute",
])
def test_every_kind_of_write_through_the_manager_invalidates(db: DatabaseManager, items: str, write: str) -> None:
    assert db.get(items, id=2) == {"id": 2, "grp": 2, "val": "v2"}
    group = db.select(items, where={"grp": 2}, order_by="id")
    assert db.get(items, id=9) is None
    if write == "insert":
        db.insert(items, {"id": 9, "grp": 2, "val": "new"})
    elif write == "insert_many":
        db.insert_many(items, [{"id": 9, "grp": 2, "val": "new"}])
    elif write == "update":
        db.update(items, {"val": "changed"}, where={"id": 2})
    elif write == "delete":
        db.delete(items, where={"id": 2})
    elif write == "upsert":
        db.upsert(items, {"id": 2, "grp": 2, "val": "changed"})
    elif write == "execute":
        db.execute("UPDATE items SET val = ? WHERE id = ?", ("changed", 2))
    elif write == "execute_many":
        db.execute_many("UPDATE items SET val = ? WHERE id = ?", [("changed", 2)])
    elif write == "bulk_insert":
        db.bulk_insert("items", [(9, 2, "new")], ["id", "grp", "val"])
    elif write == "transaction":
        with db.transaction() as tx:
            tx.execute("UPDATE items SET val = ? WHERE id = ?", ("changed", 2))
    elif write == "connection_execute":
        db.get_connection().execute("DELETE FROM items WHERE id = ?", (2,))
    fresh = db.execute("SELECT * FROM items WHERE id = ?", (2,)).first()
    assert db.get(items, id=2) == fresh
    assert db.select(items, where={"grp": 2}, order_by="id") == db.execute(
        "SELECT * FROM items WHERE grp = ? ORDER BY id", (2,)).rows
    assert db.get(items, id=9) == db.execute("SELECT * FROM items WHERE id = ?", (9,)).first()
    assert group is not None


def test_writes_to_other_tables_keep_entries(db: DatabaseManager, items: str) -> None:
    db.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY, msg VARCHAR(50))")
    db.get(items, id=1)
    db.insert("audit", {"id": 1, "msg": "hello"})
    db.execute("UPDATE audit SET msg = ? WHERE id = ?", ("bye", 1))
    hits = stats(db)["hits"]
    db.get(items, id=1)
    assert stats(db)["hits"] == hits + 1


def test_ddl_and_unclear_statements_drop_everything(db: DatabaseManager, items: str) -> None:
    db.get(items, id=1)
    db.execute("CREATE TABLE other (id INTEGER PRIMARY KEY)")
    assert stats(db)["entries"] == 0


def test_a_cascading_delete_invalidates_the_child_table(db: DatabaseManager, items: str) -> None:
    db.execute("CREATE TABLE parts (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, "
               "FOREIGN KEY (item_id) REFERENCES items (id) ON DELETE CASCADE)")
    db.insert("parts", {"id": 1, "item_id": 3})
    assert db.get("parts", id=1) == {"id": 1, "item_id": 3}
    db.delete(items, where={"id": 3})
    assert db.get("parts", id=1) is None


def test_reads_inside_a_transaction_bypass_the_cache(db: DatabaseManager, items: str) -> None:
    db.get(items, id=1)
    with db.transaction() as tx:
        tx.update(items, {"val": "uncommitted"}, where={"id": 1})
        assert db.get(items, id=1)["val"] == "uncommitted"  # type: ignore[index]
        assert tx.get(items, id=1)["val"] == "uncommitted"  # type: ignore[index]
        assert stats(db)["entries"] == 0
    assert db.get(items, id=1)["val"] == "uncommitted"  # type: ignore[index]
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.update(items, {"val": "rolled back"}, where={"id": 1})
        raise RuntimeError("undo")
    assert db.get(items, id=1)["val"] == "uncommitted"  # type: ignore[index]


def test_a_row_cached_by_another_thread_before_commit_is_dropped_at_commit(db: DatabaseManager, items: str) -> None:
    seen: list[Any] = []
    with db.transaction() as tx:
        tx.update(items, {"val": "committed later"}, where={"id": 4})
        reader = threading.Thread(target=lambda: seen.append(db.get(items, id=4)))
        reader.start()
        reader.join()
    assert seen == [{"id": 4, "grp": 1, "val": "v4"}]  # the other thread saw (and cached) the old row
    assert db.get(items, id=4) == {"id": 4, "grp": 1, "val": "committed later"}


def test_entries_expire_after_the_ttl(db: DatabaseManager, items: str) -> None:
    cache = db.cache
    assert cache is not None
    now = [1000.0]
    cache._clock = lambda: now[0]
    db.get(items, id=1)
    db.execute("UPDATE items SET val = 'changed behind its back' WHERE id = 1")  # seen: drops the entry
    db.get(items, id=1)
    now[0] += 299
    assert db.get(items, id=1)["val"] == "changed behind its back"  # type: ignore[index]
    other = DatabaseConnection.from_url(db.get_connection().url).connect()  # a write the cache cannot see
    try:
        other.execute("UPDATE items SET val = 'unseen' WHERE id = 1")
    finally:
        other.disconnect()
    assert db.get(items, id=1)["val"] == "changed behind its back"  # type: ignore[index]
    now[0] += 2
    assert db.get(items, id=1)["val"] == "unseen"  # type: ignore[index]
    assert stats(db)["expirations"] == 1


def test_the_cache_is_bounded_by_max_entries(url: DatabaseURL) -> None:
    manager = DatabaseManager(url, cache=QueryCache(max_entries=3, ttl=60))
    try:
        manager.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        manager.insert_many("t", [{"id": i} for i in range(10)])
        for i in range(10):
            manager.get("t", id=i)
        counters = stats(manager)
        assert counters["entries"] == 3 and counters["evictions"] == 7
        manager.get("t", id=9)
        assert stats(manager)["hits"] == 1
        manager.get("t", id=0)
        assert stats(manager)["hits"] == 1
    finally:
        manager.close_pool()


def test_explicitly_marked_queries_are_cached_until_a_write(db: DatabaseManager, items: str) -> None:
    query = "SELECT grp, COUNT(*) AS n FROM items GROUP BY grp ORDER BY grp"
    first = db.execute(query, cache=True).rows
    before = sent(db)
    assert db.execute(query, cache=True).rows == first
    assert sent(db) == before
    db.execute("CREATE TABLE unrelated (id INTEGER PRIMARY KEY)")
    db.insert("unrelated", {"id": 1})
    assert db.execute(query, cache=True).rows == first
    assert sent(db) == before + 3  # any write drops an entry that names no tables
    narrowed = db.execute(query, cache=True, cache_tables=["items"]).rows
    db.insert("unrelated", {"id": 2})
    assert db.execute(query, cache=True, cache_tables=["items"]).rows == narrowed
    db.insert(items, {"id": 7, "grp": 0, "val": "x"})
    assert db.execute(query, cache=True, cache_tables=["items"]).rows[0]["n"] == first[0]["n"] + 1


def test_marking_a_write_as_cacheable_is_refused(db: DatabaseManager, items: str) -> None:
    with pytest.raises(ConfigurationError, match="reads only"):
        db.execute("DELETE FROM items", cache=True)
    assert len(db.select(items)) == 6


def test_enable_and_disable_at_runtime(url: DatabaseURL) -> None:
    manager = DatabaseManager(url)
    try:
        manager.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        manager.insert("t", {"id": 1})
        cache = manager.enable_cache(max_entries=10, ttl=5)
        assert manager.get_connection().query_cache is cache
        manager.get("t", id=1)
        manager.get("t", id=1)
        assert stats(manager)["hits"] == 1
        manager.disable_cache()
        assert manager.get_connection().query_cache is None
        assert stats(manager)["enabled"] is False
        with pytest.raises(ConfigurationError, match="ttl"):
            QueryCache(ttl=0)
        with pytest.raises(ConfigurationError, match="max_entries"):
            QueryCache(max_entries=0)
    finally:
        manager.close_pool()


def test_database_scope_drops_everything_on_any_write(url: DatabaseURL) -> None:
    manager = DatabaseManager(url, cache=QueryCache(scope="database"))
    try:
        manager.execute("CREATE TABLE a (id INTEGER PRIMARY KEY)")
        manager.execute("CREATE TABLE b (id INTEGER PRIMARY KEY)")
        manager.insert("a", {"id": 1})
        manager.get("a", id=1)
        manager.insert("b", {"id": 1})
        assert stats(manager)["entries"] == 0
    finally:
        manager.close_pool()


def test_unhashable_parameters_are_not_cached(db: DatabaseManager, items: str) -> None:
    class Unhashable(str):
        __hash__ = None  # type: ignore[assignment]

    assert db.get(items, val=Unhashable("v1")) is not None
    assert stats(db)["uncacheable"] == 1


# -- the property ------------------------------------------------------------------------------------------------
KEYS = st.integers(min_value=1, max_value=6)
GROUPS = st.integers(min_value=0, max_value=2)
VALUES = st.sampled_from(["a", "b", "c", "'; DROP TABLE items; --"])
OPERATIONS = st.one_of(
    st.tuples(st.just("get"), KEYS),
    st.tuples(st.just("select"), GROUPS),
    st.tuples(st.just("select_all")),
    st.tuples(st.just("raw_cached")),
    st.tuples(st.just("insert"), KEYS, GROUPS, VALUES),
    st.tuples(st.just("update"), KEYS, VALUES),
    st.tuples(st.just("update_group"), GROUPS, VALUES),
    st.tuples(st.just("delete"), KEYS),
    st.tuples(st.just("upsert"), KEYS, GROUPS, VALUES),
    st.tuples(st.just("raw_update"), KEYS, VALUES),
    st.tuples(st.just("execute_many"), KEYS, VALUES),
    st.tuples(st.just("tx_commit"), KEYS, VALUES),
    st.tuples(st.just("tx_rollback"), KEYS, VALUES),
)


def _apply(db: DatabaseManager, model: dict[int, tuple[int, str]], op: tuple[Any, ...]) -> None:
    """Run ``op`` on the database and the model; reads are compared with the model."""
    kind = op[0]
    if kind == "get":
        row = model.get(op[1])
        expected = None if row is None else {"id": op[1], "grp": row[0], "val": row[1]}
        assert db.get("items", id=op[1]) == expected
    elif kind == "select":
        expected_rows = [{"id": k, "grp": g, "val": v} for k, (g, v) in sorted(model.items()) if g == op[1]]
        assert db.select("items", where={"grp": op[1]}, order_by="id") == expected_rows
    elif kind == "select_all":
        assert [r["id"] for r in db.select("items", order_by="id")] == sorted(model)
    elif kind == "raw_cached":
        count = db.execute("SELECT COUNT(*) AS n FROM items", cache=True).scalar()
        assert int(count) == len(model)
    elif kind == "insert":
        if op[1] not in model:
            db.insert("items", {"id": op[1], "grp": op[2], "val": op[3]})
            model[op[1]] = (op[2], op[3])
    elif kind == "update":
        assert db.update("items", {"val": op[2]}, where={"id": op[1]}) == (1 if op[1] in model else 0)
        if op[1] in model:
            model[op[1]] = (model[op[1]][0], op[2])
    elif kind == "update_group":
        db.update("items", {"val": op[2]}, where={"grp": op[1]})
        for key, (group, _) in list(model.items()):
            if group == op[1]:
                model[key] = (group, op[2])
    elif kind == "delete":
        db.delete("items", where={"id": op[1]})
        model.pop(op[1], None)
    elif kind == "upsert":
        db.upsert("items", {"id": op[1], "grp": op[2], "val": op[3]})
        model[op[1]] = (op[2], op[3])
    elif kind == "raw_update":
        db.execute("UPDATE items SET val = ? WHERE id = ?", (op[2], op[1]))
        if op[1] in model:
            model[op[1]] = (model[op[1]][0], op[2])
    elif kind == "execute_many":
        db.execute_many("UPDATE items SET val = ? WHERE id = ?", [(op[2], op[1])])
        if op[1] in model:
            model[op[1]] = (model[op[1]][0], op[2])
    elif kind in ("tx_commit", "tx_rollback"):
        try:
            with db.transaction() as tx:
                tx.update("items", {"val": op[2]}, where={"id": op[1]})
                assert tx.get("items", id=op[1]) == (
                    None if op[1] not in model else {"id": op[1], "grp": model[op[1]][0], "val": op[2]})
                if kind == "tx_rollback":
                    raise _Rollback
        except _Rollback:
            return
        if op[1] in model:
            model[op[1]] = (model[op[1]][0], op[2])


class _Rollback(Exception):
    pass


@pytest.mark.slow
def test_the_cache_never_serves_a_row_a_write_has_changed(db: DatabaseManager) -> None:
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, grp INTEGER, val VARCHAR(50))")
    examples = 60 if db.get_connection().dialect.name == "sqlite" else 25

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(OPERATIONS, min_size=1, max_size=40))
    @example([("select_all",)])  # a read the final read repeats: at least one hit, whatever is generated
    def run(operations: list[tuple[Any, ...]]) -> None:
        db.delete("items", all_rows=True)
        model: dict[int, tuple[int, str]] = {}
        for op in operations:
            _apply(db, model, op)
        _apply(db, model, ("select_all",))

    run()
    assert stats(db)["hits"] > 0
