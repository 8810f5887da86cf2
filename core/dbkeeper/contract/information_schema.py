"""Table introspection through the SQL standard's ``information_schema`` views.

The default of :meth:`dbkeeper.contract.dialect.Dialect.table_names` and
:meth:`~dbkeeper.contract.dialect.Dialect.introspect` for a dialect without a
SQLAlchemy dialect (``sqlalchemy_name = None``): most SQL engines (DuckDB,
PostgreSQL-wire databases, SQL Server, H2...) serve these views, so a new
dialect gets ``dbkeeper tables``, ``describe`` and every CRUD helper without
writing a catalog query. Five queries describe any number of tables: tables,
columns, key columns, constraints and referential constraints, all filtered
to the schema :attr:`~dbkeeper.contract.dialect.Dialect.information_schema_scope`
names. The standard has no view of plain indexes: unique and primary-key
constraints are reported as unique indexes, and a dialect whose engine has
other indexes adds them by overriding ``introspect`` (calling this first).
A database without the views (SQLite) gets an
:class:`~dbkeeper.errors.UnsupportedOperationError` that says what to
override.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from dbkeeper.contract.introspection import ColumnInfo, ForeignKeyInfo, IndexInfo, TableInfo
from dbkeeper.errors import QueryError, UnsupportedOperationError
from dbkeeper.result import QueryResult


class _Scope(Protocol):
    """What this module needs of a dialect (typed structurally, so the contract does not import the engine)."""

    @property
    def name(self) -> str: ...

    @property
    def information_schema_scope(self) -> str: ...


class DatabaseConnection(Protocol):
    """What this module needs of :class:`dbkeeper.engine.connection.DatabaseConnection`."""

    @property
    def name(self) -> str: ...

    @property
    def dialect(self) -> _Scope: ...

    def execute(self, query: str, params: Any = None) -> QueryResult: ...


def table_names(connection: DatabaseConnection) -> list[str]:
    """The base tables of the connection's current schema, sorted."""
    dialect = connection.dialect
    try:
        rows = connection.execute(
            "SELECT table_name AS name FROM information_schema.tables "
            f"WHERE table_schema = {dialect.information_schema_scope} AND table_type = 'BASE TABLE'").rows
    except QueryError as exc:
        raise UnsupportedOperationError(
            f"dialect {dialect.name!r} has no SQLAlchemy dialect (sqlalchemy_name) and its database did not answer "
            f"information_schema.tables ({exc}); the dialect must override table_names() and introspect()"
        ) from None
    return sorted(str(r["name"]) for r in rows)


def introspect(connection: DatabaseConnection, tables: Sequence[str] | None) -> list[TableInfo]:
    """Describe ``tables`` (every base table when ``None``); a missing name is a :class:`QueryError`."""
    existing = table_names(connection)
    if tables is None:
        names = existing
    else:
        missing = [t for t in tables if t not in existing]
        if missing:
            raise QueryError(
                f"no such table {missing[0]!r} in database {connection.name!r}; "
                f"existing tables: {', '.join(existing) or 'none'}"
            )
        names = list(tables)
    if not names:
        return []
    wanted = set(names)
    scope = connection.dialect.information_schema_scope
    columns = _rows(connection, wanted, (
        "SELECT table_name, column_name, data_type, is_nullable, column_default, character_maximum_length, "
        "numeric_precision, numeric_scale, ordinal_position FROM information_schema.columns "
        f"WHERE table_schema = {scope} ORDER BY table_name, ordinal_position"))
    constraints = {r["constraint_name"]: r for r in connection.execute(  # every table's: foreign keys refer to them
        "SELECT constraint_name, table_name, constraint_type FROM information_schema.table_constraints "
        f"WHERE constraint_schema = {scope} AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')").rows}
    key_columns: dict[str, list[tuple[int, str, Any]]] = defaultdict(list)
    for r in connection.execute(
            "SELECT constraint_name, column_name, ordinal_position, position_in_unique_constraint "
            f"FROM information_schema.key_column_usage WHERE constraint_schema = {scope}").rows:
        key_columns[r["constraint_name"]].append(
            (int(r["ordinal_position"]), str(r["column_name"]), r["position_in_unique_constraint"]))
    references = {r["constraint_name"]: r for r in connection.execute(
        "SELECT constraint_name, unique_constraint_name, update_rule, delete_rule "
        f"FROM information_schema.referential_constraints WHERE constraint_schema = {scope}").rows}
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in columns:
        by_table[row["table_name"]].append(row)
    keys: dict[str, tuple[str, ...]] = {}
    uniques: dict[str, list[IndexInfo]] = defaultdict(list)
    foreign: dict[str, list[ForeignKeyInfo]] = defaultdict(list)
    for name, constraint in constraints.items():
        ordered = tuple(column for _, column, _ in sorted(key_columns.get(name, [])))
        table, kind = constraint["table_name"], constraint["constraint_type"]
        if table not in wanted:
            continue
        if kind == "PRIMARY KEY":
            keys[table] = ordered
            uniques[table].append(IndexInfo(name=name, columns=ordered, unique=True))
        elif kind == "UNIQUE":
            uniques[table].append(IndexInfo(name=name, columns=ordered, unique=True))
        elif kind == "FOREIGN KEY" and name in references:
            foreign[table].append(_foreign_key(name, key_columns, references[name], constraints))
    return [TableInfo(
        name=table,
        columns=tuple(_column(r, keys.get(table, ())) for r in by_table[table]),
        primary_key=keys.get(table, ()),
        indexes=tuple(uniques[table]),
        foreign_keys=tuple(foreign[table]),
    ) for table in names]


def _rows(connection: DatabaseConnection, tables: set[str], sql: str) -> list[dict[str, Any]]:
    return [r for r in connection.execute(sql).rows if r["table_name"] in tables]


def _column(row: dict[str, Any], primary_key: tuple[str, ...]) -> ColumnInfo:
    type_name = str(row["data_type"]).upper()
    if row.get("character_maximum_length") is not None:
        type_name += f"({int(row['character_maximum_length'])})"
    elif type_name in ("NUMERIC", "DECIMAL") and row.get("numeric_precision") is not None:
        type_name += f"({int(row['numeric_precision'])},{int(row.get('numeric_scale') or 0)})"
    default = row.get("column_default")
    return ColumnInfo(name=str(row["column_name"]), type=type_name,
                      nullable=str(row["is_nullable"]).upper() != "NO",
                      default=None if default is None else str(default),
                      primary_key=row["column_name"] in primary_key)


def _foreign_key(name: str, key_columns: dict[str, list[tuple[int, str, Any]]], reference: dict[str, Any],
                 constraints: dict[str, dict[str, Any]]) -> ForeignKeyInfo:
    """The foreign key ``name``; its referred columns are the unique constraint's, matched by position."""
    own = sorted(key_columns.get(name, []))
    target_name = reference["unique_constraint_name"]
    target = {position: column for position, column, _ in key_columns.get(target_name, [])}
    referred = tuple(target.get(int(unique_position or position), "") for position, _, unique_position in own)
    target_table = constraints.get(target_name, {}).get("table_name", "")

    def rule(value: Any) -> str | None:
        text = str(value or "").upper()
        return None if text in ("", "NO ACTION") else text

    return ForeignKeyInfo(name=name, columns=tuple(column for _, column, _ in own),
                          referred_table=str(target_table), referred_columns=referred,
                          on_delete=rule(reference["delete_rule"]), on_update=rule(reference["update_rule"]))
