"""SQLAlchemy models (declarative classes, ``Table``, ``MetaData``) into the schema model.

Only the database side of a model is read: server defaults
(``server_default``), not Python-side ``default=`` callables, which never
reach the database; ``Identity()`` and SQLAlchemy's own autoincrement rule
(a single integer primary key) become ``autoincrement``; ``Computed``
becomes a generated column.
"""

from __future__ import annotations

from typing import Any

from dbkeeper.schema.errors import SchemaInputError
from dbkeeper.schema.model import (
    SchemaCheck,
    SchemaColumn,
    SchemaDefinition,
    SchemaEnum,
    SchemaForeignKey,
    SchemaIndex,
    SchemaTable,
    SchemaUniqueConstraint,
)


def is_sqlalchemy_model(obj: Any) -> bool:
    """True for a ``MetaData``, a ``Table``, a declarative class or a declarative base."""
    try:
        from sqlalchemy import MetaData, Table
    except ImportError:  # pragma: no cover - SQLAlchemy is a core dependency
        return False
    return isinstance(obj, MetaData | Table) or isinstance(getattr(obj, "__table__", None), Table) or (isinstance(
        getattr(obj, "metadata", None), MetaData) and isinstance(obj, type))


def tables_of(obj: Any) -> list[Any]:
    """The SQLAlchemy ``Table`` objects behind ``obj`` (in dependency order for a MetaData)."""
    from sqlalchemy import MetaData, Table

    if isinstance(obj, MetaData):
        return list(obj.sorted_tables)
    if isinstance(obj, Table):
        return [obj]
    table = getattr(obj, "__table__", None)
    if isinstance(table, Table):
        return [table]
    metadata = getattr(obj, "metadata", None)
    if isinstance(metadata, MetaData):
        return list(metadata.sorted_tables)
    raise SchemaInputError(f"{obj!r} is not a SQLAlchemy model: pass a declarative class, a Table or a MetaData")


def from_sqlalchemy(*models: Any, name: str = "models", version: str = "1.0.0") -> SchemaDefinition:
    """One :class:`SchemaDefinition` from SQLAlchemy models (duplicates, e.g. a class and its MetaData, merged)."""
    tables: dict[str, SchemaTable] = {}
    enums: dict[str, SchemaEnum] = {}
    for model in models:
        for table in tables_of(model):
            if table.name not in tables:
                tables[table.name] = _table(table, enums)
    return SchemaDefinition(name=name, version=version, tables=list(tables.values()), enums=list(enums.values()))


def _type(sa_type: Any, column: SchemaColumn, enums: dict[str, SchemaEnum]) -> str:
    from sqlalchemy import types as t

    if isinstance(sa_type, t.Enum):
        values = tuple(str(v) for v in sa_type.enums)
        if sa_type.name:
            enums.setdefault(sa_type.name, SchemaEnum(sa_type.name, values))
            column.enum = sa_type.name
        column.enum_values = values
        return "ENUM"
    checks: list[tuple[type[Any], Any]] = [
        (t.BigInteger, "BIGINT"), (t.SmallInteger, "SMALLINT"), (t.Integer, "INTEGER"), (t.Boolean, "BOOLEAN"),
        (t.Double, "DOUBLE"), (t.Float, None), (t.Numeric, None), (t.Text, "TEXT"), (t.Uuid, "UUID"),
        (t.String, None), (t.DateTime, None), (t.Date, "DATE"), (t.Time, "TIME"), (t.LargeBinary, "BLOB"),
        (t.JSON, "JSON"),
    ]
    for cls, name in checks:
        if not isinstance(sa_type, cls):
            continue
        if name is not None:
            return str(name)
        if cls is t.Float:
            return "REAL" if (sa_type.precision or 53) <= 24 else "DOUBLE"
        if cls is t.Numeric:
            if sa_type.precision is None:
                return "NUMERIC"
            return f"NUMERIC({sa_type.precision},{sa_type.scale or 0})"
        if cls is t.String:
            return f"VARCHAR({sa_type.length})" if sa_type.length else "TEXT"
        if cls is t.DateTime:
            return "TIMESTAMPTZ" if sa_type.timezone else "TIMESTAMP"
    raise SchemaInputError(f"column {column.name!r}: SQLAlchemy type {sa_type!r} has no portable equivalent; "
                           "use one of Integer, BigInteger, SmallInteger, Boolean, Float, Numeric, String, Text, "
                           "Date, DateTime, Time, LargeBinary, JSON, Uuid, Enum")


def _server_default(column: Any, target: SchemaColumn) -> None:
    default = column.server_default
    if default is None or not hasattr(default, "arg"):
        return
    arg = default.arg
    if isinstance(arg, str):
        target.default = arg
    else:
        target.default_expression = str(arg.text if hasattr(arg, "text") else arg)


def _table(table: Any, enums: dict[str, SchemaEnum]) -> SchemaTable:
    from sqlalchemy import CheckConstraint, Computed, ForeignKeyConstraint, Identity, UniqueConstraint

    auto = table.autoincrement_column
    result = SchemaTable(name=table.name, comment=table.comment,
                         primary_key=tuple(c.name for c in table.primary_key.columns))
    for sa_column in table.columns:
        column = SchemaColumn(name=sa_column.name, nullable=bool(sa_column.nullable), comment=sa_column.comment)
        column.type = _type(sa_column.type, column, enums)
        _server_default(sa_column, column)
        if isinstance(sa_column.server_default, Computed):
            column.generated = str(sa_column.server_default.sqltext)
            column.generated_stored = sa_column.server_default.persisted is not False
        column.autoincrement = sa_column is auto or isinstance(sa_column.identity, Identity)
        column.primary_key = sa_column.name in result.primary_key
        result.columns.append(column)
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            result.unique_constraints.append(SchemaUniqueConstraint(tuple(c.name for c in constraint.columns),
                                                                    _name(constraint.name)))
        elif isinstance(constraint, CheckConstraint):
            result.checks.append(SchemaCheck(str(constraint.sqltext), _name(constraint.name)))
        elif isinstance(constraint, ForeignKeyConstraint):
            elements = list(constraint.elements)
            result.foreign_keys.append(SchemaForeignKey(
                columns=tuple(e.parent.name for e in elements), referred_table=elements[0].column.table.name,
                referred_columns=tuple(e.column.name for e in elements), name=_name(constraint.name),
                on_delete=constraint.ondelete, on_update=constraint.onupdate))
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        result.indexes.append(SchemaIndex(_name(index.name), tuple(c.name for c in index.columns), bool(index.unique)))
    for sa_column in table.columns:
        if sa_column.unique and not any(u.columns == (sa_column.name,) for u in result.unique_constraints):
            result.unique_constraints.append(SchemaUniqueConstraint((sa_column.name,)))
    return result


def _name(name: Any) -> str | None:
    if name is None or type(name).__name__ == "_NoneName":
        return None
    return str(name)
