"""Create/read/update/delete helpers beside raw SQL, safe by construction.

:class:`CrudMethods` gives :class:`~dbkeeper.engine.manager.DatabaseManager`,
:class:`~dbkeeper.engine.connection.DatabaseConnection` and
:class:`~dbkeeper.engine.connection.Transaction` the same seven helpers::

    key = db.insert("users", {"email": "a@example.com", "name": "Ada"})
    db.insert_many("users", [{"email": ...}, ...])
    rows = db.select("users", where={"country": ["NL", "SE"]}, order_by=["-created", "id"], limit=10)
    user = db.get("users", id=key)
    db.update("users", {"name": "Ada L."}, where={"id": key})
    db.delete("users", where=Fragment("last_seen < ?", (cutoff,)))
    db.upsert("users", {"email": "a@example.com", "name": "Ada"}, conflict=["email"])

Why it is safe: every table and column name is checked against the table's
real columns (:mod:`dbkeeper.crud.table_meta`) and quoted by the dialect; every
value is bound by the driver; ``where`` is a dict of equalities or an
explicitly wrapped fragment (:mod:`dbkeeper.crud.where`); ``update``/``delete``
without a condition are refused unless ``all_rows=True``. Every refusal is
raised before any statement is sent.

Why it is fast: ``get`` (and ``insert``) keep their finished SQL text per
``(table, columns)``, so the hot path is a dict lookup and one ``execute``.

Reads go through the opt-in :class:`~dbkeeper.crud.read_cache.QueryCache` when the
connection has one (never inside a transaction); writes invalidate it
through the connection's statement hook.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from dbkeeper.crud.read_cache import CrudSession, freeze_params, in_transaction
from dbkeeper.crud.table_meta import TableMeta, TableMetaCache
from dbkeeper.crud.where import ParamSink, WhereClause, build_where, parse_where
from dbkeeper.errors import ConfigurationError, DbKeeperError, IntegrityError, QueryError

if TYPE_CHECKING:
    from dbkeeper.result import QueryResult

__all__ = ["CrudMethods", "CrudState", "MultipleRowsError", "UnsafeWriteError"]

logger = logging.getLogger("dbkeeper")
_DEBUG = logging.DEBUG
_DIRECTIONS = {"asc": "ASC", "desc": "DESC"}


class UnsafeWriteError(ConfigurationError):
    """``update``/``delete`` without a condition; pass ``all_rows=True`` to really touch every row."""


class MultipleRowsError(DbKeeperError):
    """``get`` matched more than one row: its key columns do not identify a row (use ``select``)."""


class Executor(Protocol):
    """What the helpers run statements on: a connection (joins the thread's transaction) or a transaction."""

    def execute(self, query: str, params: Any = None) -> QueryResult: ...  # pragma: no cover

    def bulk_insert(self, table: str | Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
                    columns: Sequence[str] | None = None) -> int: ...  # pragma: no cover


#: Where a helper's statements go: ``(connection, executor, pinned)`` (see :meth:`CrudMethods._crud_target`).
Target = tuple[CrudSession, Executor, bool]


class CrudState:
    """What one connection remembers for the helpers: table descriptions and finished SQL.

    Finished statements are kept per ``(kind, table, columns)`` and dropped
    whenever a table description is refreshed.
    """

    __slots__ = ("compiled", "tables")

    def __init__(self, connection: CrudSession) -> None:
        self.tables = TableMetaCache(connection)
        self.compiled: dict[Hashable, Any] = {}

    def forget(self, table: str | None = None) -> None:
        """Describe ``table`` (every table when None) again on next use."""
        self.tables.forget(table)
        self.compiled.clear()

    def require(self, table: str, columns: Iterable[str], *, what: str = "column") -> TableMeta:
        """The table's description after checking ``columns``; a refresh drops finished SQL."""
        before = self.tables.get(table)
        meta = self.tables.require(table, columns, what=what)
        if meta is not before:
            self.compiled.clear()
        return meta


def state_of(connection: CrudSession) -> CrudState:
    """The connection's :class:`CrudState`, created on first use."""
    state: CrudState | None = connection._crud_state
    if state is None:
        state = connection._crud_state = CrudState(connection)
    return state


class CrudMethods:
    """The CRUD helpers, mixed into the manager, connections and transactions.

    A subclass says where statements go by implementing
    :meth:`_crud_target`: the connection (for its table descriptions and read
    cache) and the executor (the connection itself, or a transaction).
    """

    __slots__ = ()

    def _crud_target(self) -> Target:
        """``(connection, executor, pinned)``; ``pinned`` is true for a transaction object."""
        raise NotImplementedError  # pragma: no cover

    def insert(self, table: str, values: Mapping[str, Any]) -> Any:
        """Insert one row; return its primary key.

        The key is the value itself for a one-column key and a dict
        ``{column: value}`` for a composite key: taken from ``values`` when
        given, else from ``RETURNING`` (PostgreSQL) or the driver's
        ``lastrowid`` (SQLite, MySQL; one integer key column). ``None`` when
        the table has no primary key or the database cannot tell.
        """
        return _insert(self._crud_target(), table, values)

    def insert_many(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows (dicts with the same keys) with the dialect's bulk path; return how many. All or none."""
        return _insert_many(self._crud_target(), table, rows)

    def select(  # noqa: PLR0917 - the documented signature, positional as users write it
        self, table: str, where: Any = None, columns: Sequence[str] | None = None,
        order_by: str | Sequence[str | tuple[str, str]] | tuple[str, str] | None = None,
        limit: int | None = None, offset: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` as dicts.

        ``where``: a dict of equalities (a list means ``IN``, ``None`` means
        ``IS NULL``), a :class:`~dbkeeper.crud.where.Fragment` or ``(text,
        params)``. ``columns``: names to return (all when None).
        ``order_by``: a column, ``"-column"`` for descending, ``(column,
        "desc")``, or a list of those. ``limit``/``offset``: non-negative ints.
        """
        return _select(self._crud_target(), table, where, columns=columns, order_by=order_by, limit=limit,
                       offset=offset)

    def get(self, table: str, /, **key: Any) -> dict[str, Any] | None:
        """The one row whose columns equal ``key`` (``get("users", id=7)``), or None.

        Meant for keys: more than one matching row raises
        :class:`MultipleRowsError`.
        """
        # The hot path, kept in one frame: finished SQL by (table, key columns), then execute.
        target = self._crud_target()
        connection, executor, pinned = target
        state = connection._crud_state or state_of(connection)
        names = tuple(key)
        try:
            sql = state.compiled.get((table, names))
        except TypeError:  # an unhashable table argument: _compile_get explains
            sql = None
        params = tuple(key.values())
        if sql is None or None in params:
            sql = _compile_get(connection, state, table, key, names)
            if sql is None:  # a NULL in the key: IS NULL, built each time
                return _get_with_nulls(target, table, key)
        if connection.query_cache is None or pinned:
            try:
                rows = executor.execute(sql, params).rows
            except QueryError:
                state.forget(table)
                raise
        else:
            hit = None if in_transaction(connection) else connection.query_cache.peek_rows(
                connection, (sql, params))  # outside a transaction: the cache's hit path, else _read()
            rows = hit if hit is not None else _read(target, state, table, sql, params).rows
        if len(rows) > 1:
            raise MultipleRowsError(f"get({table!r}, {', '.join(names)}=...) matched more than one row; "
                                    "these columns are not a key: use select()")
        return rows[0] if rows else None

    def update(self, table: str, values: Mapping[str, Any], where: Any = None, *, all_rows: bool = False) -> int:
        """Set ``values`` on the rows matching ``where``; return the rows affected.

        Without ``where`` the call is refused (:class:`UnsafeWriteError`)
        unless ``all_rows=True``.
        """
        return _update(self._crud_target(), table, values, where, all_rows=all_rows)

    def delete(self, table: str, where: Any = None, *, all_rows: bool = False) -> int:
        """Delete the rows matching ``where``; return how many.

        Without ``where`` the call is refused (:class:`UnsafeWriteError`)
        unless ``all_rows=True``.
        """
        return _delete(self._crud_target(), table, where, all_rows=all_rows)

    def upsert(self, table: str, values: Mapping[str, Any], conflict: str | Sequence[str] | None = None, *,
               update: Sequence[str] | None = None) -> Any:
        """Insert a row, or update the existing row with the same ``conflict`` columns; return its key.

        ``conflict`` defaults to the primary key and must be a primary key
        or unique index whose values are all in ``values``. ``update`` lists
        the columns to overwrite on conflict (default: every other column in
        ``values``; empty: leave the existing row alone). Uses the dialect's
        native statement (``ON CONFLICT`` on PostgreSQL and SQLite, ``ON
        DUPLICATE KEY UPDATE`` on MySQL, where any unique key conflicts).
        The key is returned as by :meth:`insert`.
        """
        return _upsert(self._crud_target(), table, values, conflict, update=update)


# -- implementation -------------------------------------------------------------------------------
def _check_values(values: Any, what: str, *, allow_empty: bool = False) -> Mapping[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigurationError(f"{what}: values must be a dict of column -> value, got {type(values).__name__}")
    if not values and not allow_empty:
        raise ConfigurationError(f"{what}: values is empty; give at least one column")
    return values


def _execute(state: CrudState, executor: Executor, table: str, sql: str, params: Any) -> QueryResult:
    """Run a helper's statement; a rejected one (not a constraint) makes the table be described again."""
    try:
        return executor.execute(sql, params)
    except IntegrityError:
        raise
    except QueryError:
        state.forget(table)
        raise


def _read(target: Target, state: CrudState, table: str, sql: str, params: Any) -> QueryResult:
    connection, executor, pinned = target
    cache = connection.query_cache
    if cache is None or pinned or in_transaction(connection):
        return _execute(state, executor, table, sql, params)
    key = (sql, params if type(params) is tuple else freeze_params(params))
    return cache.fetch(connection, key, state.tables.dependency_tags(table),
                       lambda: _execute(state, executor, table, sql, params))


def _key_value(meta: TableMeta, row: Mapping[str, Any]) -> Any:
    key = meta.primary_key
    if len(key) == 1:
        return row[key[0]]
    return {name: row[name] for name in key}


def _insert(target: Target, table: str, values: Mapping[str, Any]) -> Any:
    connection, executor, _ = target
    _check_values(values, "insert", allow_empty=True)
    state = state_of(connection)
    columns = tuple(values)
    compiled = state.compiled.get(("insert", table, columns))
    if compiled is None:
        meta = state.require(table, columns)
        key = meta.primary_key
        returning: tuple[str, ...] = ()
        if key and not all(k in values for k in key) and connection.dialect.supports_insert_returning():
            returning = tuple(meta.quoted[k] for k in key)
        sql = connection.dialect.insert_sql(meta.qualified, [meta.quoted[c] for c in columns], returning)
        if not columns:  # sent without parameters: undo the '%' escaping
            sql = ParamSink(connection.dialect).finish(sql)[0]
        compiled = state.compiled[("insert", table, columns)] = (meta, sql, bool(returning))
    meta, sql, returns = compiled
    result = _execute(state, executor, table, sql, tuple(values.values()) or None)
    if logger.isEnabledFor(_DEBUG):
        logger.debug("%s: insert into %s (%d columns)", connection.name, table, len(columns))
    key = meta.primary_key
    if not key:
        return None
    if all(k in values for k in key):
        return _key_value(meta, values)
    if returns:
        row = result.first()
        return _key_value(meta, row) if row is not None else None
    if meta.integer_key:
        return result.lastrowid
    return None


def _insert_many(target: Target, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
    connection, executor, _ = target
    batch = list(rows)
    if not batch:
        return 0
    first = _check_values(batch[0], "insert_many")
    columns = tuple(first)
    expected = set(columns)
    for number, row in enumerate(batch, start=1):
        _check_values(row, "insert_many")
        if len(row) != len(columns) or set(row) != expected:
            raise ConfigurationError(
                f"insert_many: row {number} has columns {sorted(row)}, but row 1 has {sorted(columns)}; "
                "give every row the same columns (use None for NULL)"
            )
    state = state_of(connection)
    state.require(table, columns)
    count = executor.bulk_insert(table, [tuple(row[c] for c in columns) for row in batch], list(columns))
    if logger.isEnabledFor(_DEBUG):
        logger.debug("%s: insert_many into %s: %d rows", connection.name, table, count)
    return count


def _order_terms(state: CrudState, table: str, order_by: Any) -> list[tuple[str, str]]:
    if order_by is None:
        return []
    if isinstance(order_by, str) or (isinstance(order_by, tuple) and len(order_by) == 2
                                     and isinstance(order_by[1], str) and order_by[1].lower() in _DIRECTIONS):
        items: list[Any] = [order_by]
    else:
        items = list(order_by)
    for attempt in (0, 1):
        meta = state.tables.get(table)
        terms: list[tuple[str, str]] = []
        unknown: list[str] = []
        for item in items:
            if isinstance(item, str):
                if meta.has(item):
                    terms.append((item, "ASC"))
                elif item.startswith("-") and meta.has(item[1:]):
                    terms.append((item[1:], "DESC"))
                else:
                    unknown.append(item)
            elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str) \
                    and item[1].lower() in _DIRECTIONS:
                if isinstance(item[0], str) and meta.has(item[0]):
                    terms.append((item[0], _DIRECTIONS[item[1].lower()]))
                else:
                    unknown.append(item[0])
            else:
                raise ConfigurationError(
                    f"order_by: expected a column name, '-column' or (column, 'asc'|'desc'), got {item!r}"
                )
        if not unknown:
            return terms
        if attempt == 0:
            state.forget(table)
    state.require(table, unknown, what="order_by column")
    raise AssertionError("unreachable")  # pragma: no cover


def _check_count(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _select(target: Target, table: str, where: Any, *, columns: Sequence[str] | None, order_by: Any,
            limit: int | None, offset: int | None) -> list[dict[str, Any]]:
    connection = target[0]
    clause = parse_where(where)
    limit = _check_count(limit, "limit")
    offset = _check_count(offset, "offset")
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        columns = list(columns)
        if not columns:
            raise ConfigurationError("select: columns is empty; pass None for every column")
    state = state_of(connection)
    terms = _order_terms(state, table, order_by)
    meta = state.require(table, [*(columns or ()), *(clause.columns if clause else ())])
    dialect = connection.dialect
    sink = ParamSink(dialect, named=clause.named if clause else False)
    shown = "*" if columns is None else ", ".join(meta.quoted[c] for c in columns)
    sql = f"SELECT {shown} FROM {meta.qualified}"
    if clause is not None:
        sql += " WHERE " + build_where(clause, sink, meta.quoted.__getitem__, dialect)
    if terms:
        sql += " ORDER BY " + ", ".join(f"{meta.quoted[name]} {direction}" for name, direction in terms)
    tail = dialect.limit_sql(limit, offset)
    if tail:
        sql += " " + tail
    sql, params = sink.finish(sql)
    return _read(target, state, table, sql, params).rows


def _compile_get(connection: CrudSession, state: CrudState, table: str, key: Mapping[str, Any],
                 names: tuple[str, ...]) -> str | None:
    if not names:
        raise ConfigurationError(f"get() needs key columns, for example get({table!r}, id=1)")
    meta = state.require(table, names)
    if any(value is None for value in key.values()):
        return None
    dialect = connection.dialect
    sink = ParamSink(dialect)
    condition = build_where(WhereClause(equalities=key), sink, meta.quoted.__getitem__, dialect)
    sql = f"SELECT * FROM {meta.qualified} WHERE {condition} {dialect.limit_sql(2, None)}"
    state.compiled[(table, names)] = sql
    return sql


def _get_with_nulls(target: Target, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = _select(target, table, dict(key), columns=None, order_by=None, limit=2, offset=None)
    if len(rows) > 1:
        raise MultipleRowsError(f"get({table!r}, ...) matched more than one row; use select()")
    return rows[0] if rows else None


def _refuse_unbounded(what: str, table: str, clause: WhereClause | None, all_rows: bool) -> None:
    if clause is None and not all_rows:
        raise UnsafeWriteError(
            f"{what}({table!r}) without a where condition would change every row; pass where={{...}} "
            f"or all_rows=True if that is what you mean"
        )


def _update(target: Target, table: str, values: Mapping[str, Any], where: Any, *, all_rows: bool) -> int:
    connection, executor, _ = target
    _check_values(values, "update")
    clause = parse_where(where)
    _refuse_unbounded("update", table, clause, all_rows)
    state = state_of(connection)
    meta = state.require(table, [*values, *(clause.columns if clause else ())])
    dialect = connection.dialect
    sink = ParamSink(dialect, named=clause.named if clause else False)
    assignments = ", ".join(f"{meta.quoted[name]} = {sink.add(value)}" for name, value in values.items())
    sql = f"UPDATE {meta.qualified} SET {assignments}"
    if clause is not None:
        sql += " WHERE " + build_where(clause, sink, meta.quoted.__getitem__, dialect)
    affected = _execute(state, executor, table, *sink.finish(sql)).rows_affected
    if logger.isEnabledFor(_DEBUG):
        logger.debug("%s: update %s: %d rows", connection.name, table, affected)
    return affected


def _delete(target: Target, table: str, where: Any, *, all_rows: bool) -> int:
    connection, executor, _ = target
    clause = parse_where(where)
    _refuse_unbounded("delete", table, clause, all_rows)
    state = state_of(connection)
    meta = state.require(table, clause.columns if clause else ())
    dialect = connection.dialect
    sink = ParamSink(dialect, named=clause.named if clause else False)
    sql = f"DELETE FROM {meta.qualified}"
    if clause is not None:
        sql += " WHERE " + build_where(clause, sink, meta.quoted.__getitem__, dialect)
    affected = _execute(state, executor, table, *sink.finish(sql)).rows_affected
    if logger.isEnabledFor(_DEBUG):
        logger.debug("%s: delete from %s: %d rows", connection.name, table, affected)
    return affected


def _upsert(target: Target, table: str, values: Mapping[str, Any], conflict: str | Sequence[str] | None, *,
            update: Sequence[str] | None) -> Any:
    connection, executor, _ = target
    _check_values(values, "upsert")
    state = state_of(connection)
    columns = tuple(values)
    meta = state.require(table, columns)
    if conflict is None:
        targets = meta.primary_key
        if not targets:
            raise ConfigurationError(f"upsert({table!r}): the table has no primary key; pass conflict=[...] "
                                     "naming a unique index")
    else:
        targets = (conflict,) if isinstance(conflict, str) else tuple(conflict)
        if not targets:
            raise ConfigurationError(f"upsert({table!r}): conflict is empty")
        meta = state.require(table, targets, what="conflict column")
    missing = [name for name in targets if name not in values]
    if missing:
        raise ConfigurationError(
            f"upsert({table!r}): values has no {', '.join(map(repr, missing))}; the conflict columns "
            f"({', '.join(targets)}) decide which row is updated, so their values are required"
        )
    if update is None:
        changed = [name for name in columns if name not in targets]
    else:
        changed = [update] if isinstance(update, str) else list(update)
        meta = state.require(table, changed, what="update column")
        outside = [name for name in changed if name not in values]
        if outside:
            raise ConfigurationError(f"upsert({table!r}): update names {', '.join(map(repr, outside))}, "
                                     "which values does not contain")
    dialect = connection.dialect
    key = meta.primary_key
    key_given = bool(key) and all(k in values for k in key)
    returning: tuple[str, ...] = ()
    if key and not key_given and dialect.supports_insert_returning():
        returning = tuple(meta.quoted[k] for k in key)
    quoted = meta.quoted
    sql = dialect.upsert_sql(meta.qualified, [quoted[c] for c in columns], [quoted[c] for c in targets],
                             [quoted[c] for c in changed], returning)
    result = _execute(state, executor, table, sql, tuple(values.values()))
    if logger.isEnabledFor(_DEBUG):
        logger.debug("%s: upsert into %s on (%s)", connection.name, table, ", ".join(targets))
    if not key:
        return None
    if key_given:
        return _key_value(meta, values)
    row = result.first() if returning else None
    if row is None:  # no RETURNING here, or the existing row was left alone: look the key up
        sink = ParamSink(dialect)
        condition = build_where(WhereClause(equalities={t: values[t] for t in targets}), sink,
                                quoted.__getitem__, dialect)
        shown = ", ".join(quoted[k] for k in key)
        row = _execute(state, executor, table, f"SELECT {shown} FROM {meta.qualified} WHERE {condition}",
                       sink.params()).first()
    return _key_value(meta, row) if row is not None else None
