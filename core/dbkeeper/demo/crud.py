"""The CRUD helpers and the read cache, shown (and checked) on a live manager.

``dbkeeper demo`` calls :func:`run_crud_demo` as one of its steps. It works
on any dialect: it creates a ``crud_products`` table of its own, runs every
helper against it, shows two refusals, and uses the read cache (switched on
for the step when the manager has none, and off again afterwards). Each
result is verified, so a broken helper fails the demo instead of printing
something plausible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dbkeeper.crud.methods import UnsafeWriteError
from dbkeeper.crud.table_meta import UnknownColumnError
from dbkeeper.crud.where import Fragment
from dbkeeper.errors import DbKeeperError

if TYPE_CHECKING:
    from dbkeeper.engine.manager import DatabaseManager

__all__ = ["TABLE", "CrudDemoError", "run_crud_demo"]

#: The table the demo creates (dropped first if a previous run left it).
TABLE = "crud_products"
_AUTO_KEY = {"sqlite": "INTEGER PRIMARY KEY", "postgres": "SERIAL PRIMARY KEY",
             "mysql": "INTEGER AUTO_INCREMENT PRIMARY KEY"}
_HOSTILE = "'; DROP TABLE crud_products; --"


class CrudDemoError(DbKeeperError):
    """A CRUD demo check found a wrong result."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise CrudDemoError(f"CRUD demo: {message}")


def run_crud_demo(manager: DatabaseManager, say: Callable[[str], None]) -> dict[str, Any]:
    """Run the CRUD walk-through on ``manager``'s current database; ``say`` prints one line.

    Returns facts for later demo steps: the rows left in :data:`TABLE` and
    the cache's hit and miss counts.
    """
    connection = manager.get_connection()
    dialect = connection.dialect
    table = dialect.qualify(TABLE)
    manager.execute(f"DROP TABLE IF EXISTS {table}")
    manager.execute(f"CREATE TABLE {table} (id {_AUTO_KEY.get(dialect.name, 'INTEGER PRIMARY KEY')}, "
                    "sku VARCHAR(20) NOT NULL UNIQUE, name VARCHAR(100) NOT NULL, price INTEGER, stock INTEGER)")

    key = manager.insert(TABLE, {"sku": "KB-1", "name": "Keyboard", "price": 4900, "stock": 12})
    say(f"insert -> primary key {key!r}")
    added = manager.insert_many(TABLE, [
        {"sku": "MS-1", "name": "Mouse", "price": 1900, "stock": 40},
        {"sku": "MN-1", "name": "Monitor", "price": 18900, "stock": 3},
        {"sku": "CB-1", "name": "Cable", "price": 500, "stock": 0},
    ])
    say(f"insert_many -> {added} rows")
    row = manager.get(TABLE, id=key)
    _check(row is not None and row["name"] == "Keyboard", f"get(id={key!r}) returned {row!r}")
    say(f"get(id={key!r}) -> {row['name']} at {row['price'] / 100:.2f}")  # type: ignore[index]
    cheap = manager.select(TABLE, where=Fragment("price < ?", (5000,)), columns=["sku", "price"],
                           order_by="-price", limit=2)
    _check([r["sku"] for r in cheap] == ["KB-1", "MS-1"], f"select returned {cheap!r}")
    say(f"select(price < 50, order_by='-price', limit=2) -> {', '.join(r['sku'] for r in cheap)}")
    changed = manager.update(TABLE, {"stock": 11}, where={"sku": ["KB-1", "CB-1"]})
    _check(changed == 2, f"update changed {changed} rows")
    say(f"update(where sku IN (KB-1, CB-1)) -> {changed} rows")
    manager.upsert(TABLE, {"sku": "HS-1", "name": "Headset", "price": 7900, "stock": 5}, conflict="sku")
    manager.upsert(TABLE, {"sku": "HS-1", "name": "Headset", "price": 6900, "stock": 5}, conflict="sku")
    headset = manager.get(TABLE, sku="HS-1")
    _check(headset is not None and headset["price"] == 6900, f"upsert left {headset!r}")
    say("upsert(HS-1) twice -> inserted, then updated the price")
    removed = manager.delete(TABLE, where={"stock": 0})
    _check(removed == 0, f"delete removed {removed} rows")
    manager.insert(TABLE, {"sku": "X-1", "name": _HOSTILE, "price": None, "stock": None})
    _check(manager.get(TABLE, sku="X-1")["name"] == _HOSTILE, "a hostile value did not round-trip")  # type: ignore[index]
    say(f"a value like {_HOSTILE!r} is bound, never formatted: stored and read back as is")
    removed = manager.delete(TABLE, where={"price": None})
    _check(removed == 1, f"delete(price IS NULL) removed {removed} rows")

    def delete_everything() -> object:
        return manager.delete(TABLE)

    def misspelled_column() -> object:
        return manager.update(TABLE, {"prise": 1}, where={"id": key})

    refusals: list[tuple[Callable[[], object], type[DbKeeperError]]] = [
        (delete_everything, UnsafeWriteError), (misspelled_column, UnknownColumnError)]
    for attempt, refusal in refusals:
        try:
            attempt()
        except refusal as exc:
            say(f"refused before any SQL: {exc}")
        else:  # pragma: no cover - a refusal that did not happen
            raise CrudDemoError(f"CRUD demo: expected {refusal.__name__}")

    with manager.transaction() as tx:
        tx.update(TABLE, {"stock": 10}, where={"id": key})
        tx.insert(TABLE, {"sku": "DK-1", "name": "Dock", "price": 12900, "stock": 2})
    say("transaction: update + insert committed together")

    own_cache = manager.cache is None
    cache = manager.enable_cache(max_entries=256, ttl=30) if own_cache else manager.cache
    assert cache is not None
    before = cache.stats()
    try:
        for _ in range(3):
            manager.get(TABLE, id=key)
        manager.update(TABLE, {"stock": 9}, where={"id": key})
        fresh = manager.get(TABLE, id=key)
        _check(fresh is not None and fresh["stock"] == 9, f"the cache served a stale row: {fresh!r}")
        after = manager.get_database_stats()["cache"]
        hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
        say(f"read cache: {hits} hits, {misses} misses; the update through the manager invalidated the row")
    finally:
        if own_cache:
            manager.disable_cache()
    left = len(manager.select(TABLE))
    say(f"{TABLE}: {left} rows")
    return {"crud_rows": left, "cache_hits": hits, "cache_misses": misses}
