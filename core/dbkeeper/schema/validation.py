"""Checks that a :class:`SchemaDefinition` is complete and consistent, with errors people can act on.

Run by :meth:`SchemaDefinition.from_dict`, the generator and the differ
before any SQL is produced, so a bad definition fails with the name of the
offending object instead of a database error half-way through a migration.
It also resolves ``enum`` references into ``enum_values``.
"""

from __future__ import annotations

from collections import Counter

from dbkeeper.schema.errors import SchemaValidationError
from dbkeeper.schema.fragments import check_fragment
from dbkeeper.schema.model import SchemaDefinition, SchemaTable
from dbkeeper.schema.types import parse_type


def _duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def validate(schema: SchemaDefinition) -> SchemaDefinition:
    """Raise :class:`SchemaValidationError` naming the first problem; return ``schema`` (enums resolved)."""
    if not schema.name:
        raise SchemaValidationError("the schema definition has no name")
    for kind, names in (("table", [t.name for t in schema.tables]), ("view", [v.name for v in schema.views]),
                        ("enum", [e.name for e in schema.enums]), ("sequence", [s.name for s in schema.sequences])):
        if any(not n for n in names):
            raise SchemaValidationError(f"a {kind} of schema {schema.name!r} has no name")
        dupes = _duplicates(names)
        if dupes:
            raise SchemaValidationError(f"duplicate {kind} {dupes[0]!r} in schema {schema.name!r}")
    clash = {t.name for t in schema.tables} & {v.name for v in schema.views}
    if clash:
        raise SchemaValidationError(f"{sorted(clash)[0]!r} is both a table and a view")
    for enum in schema.enums:
        if not enum.values:
            raise SchemaValidationError(f"enum {enum.name!r} has no values")
        dupes = _duplicates(list(enum.values))
        if dupes:
            raise SchemaValidationError(f"enum {enum.name!r} lists the value {dupes[0]!r} twice")
    tables = {t.name: t for t in schema.tables}
    for table in schema.tables:
        _validate_table(schema, table, tables)
    for view in schema.views:
        if not view.definition.strip():
            raise SchemaValidationError(f"view {view.name!r} has an empty definition")
        check_fragment(view.definition.strip().rstrip(";"), f"view {view.name!r}")  # as ddl.py renders it
    return schema


def _validate_table(schema: SchemaDefinition, table: SchemaTable, tables: dict[str, SchemaTable]) -> None:
    where = f"table {table.name!r}"
    if not table.columns:
        raise SchemaValidationError(f"{where} has no columns")
    names = [c.name for c in table.columns]
    if any(not n for n in names):
        raise SchemaValidationError(f"a column of {where} has no name")
    dupes = _duplicates(names)
    if dupes:
        raise SchemaValidationError(f"duplicate column {dupes[0]!r} in {where}")
    known = set(names)
    for column in table.columns:
        label = f"column {table.name}.{column.name}"
        if not column.type:
            raise SchemaValidationError(f"{label} has no type")
        try:
            ctype = parse_type(column.type)
        except SchemaValidationError as exc:
            raise SchemaValidationError(f"{label}: {exc}") from None
        if ctype.name == "ENUM":
            if column.enum:
                enum = schema.enum(column.enum)
                if enum is None:
                    raise SchemaValidationError(f"{label} uses enum {column.enum!r}, which the schema does not define")
                column.enum_values = enum.values
            elif not column.enum_values:
                raise SchemaValidationError(f"{label} is an ENUM without values: set enum=NAME or enum_values=[...]")
        if column.default is not None and column.default_expression is not None:
            raise SchemaValidationError(f"{label} has both a literal default and a default expression")
        if column.default is not None and not isinstance(column.default, str | int | float | bool):
            raise SchemaValidationError(f"{label}: default {column.default!r} is not a str, int, float or bool")
        if column.default_expression is not None:
            check_fragment(column.default_expression, f"default of column {table.name}.{column.name}")
        if column.generated is not None:
            check_fragment(column.generated, f"generated expression of column {table.name}.{column.name}")
        if column.autoincrement and ctype.name not in ("SMALLINT", "INTEGER", "BIGINT"):
            raise SchemaValidationError(f"{label}: autoincrement needs an integer type, not {column.type}")
    for what, cols in (("primary key", table.primary_key),
                       *((f"index {i.name or i.columns}", i.columns) for i in table.indexes),
                       *((f"unique constraint {u.name or u.columns}", u.columns) for u in table.unique_constraints),
                       *((f"foreign key {f.name or f.columns}", f.columns) for f in table.foreign_keys)):
        missing = [c for c in cols if c not in known]
        if missing:
            raise SchemaValidationError(f"{where}: {what} names column {missing[0]!r}, which the table lacks")
    for index in table.indexes:
        if not index.columns:
            raise SchemaValidationError(f"{where}: index {index.name!r} has no columns")
    for fk in table.foreign_keys:
        target = tables.get(fk.referred_table)
        if target is None:
            raise SchemaValidationError(f"{where}: foreign key {fk.columns} refers to table {fk.referred_table!r}, "
                                        "which the schema does not define")
        if len(fk.columns) != len(fk.referred_columns):
            raise SchemaValidationError(f"{where}: foreign key {fk.columns} has {len(fk.columns)} column(s) but "
                                        f"refers to {len(fk.referred_columns)}")
        lacking = [c for c in fk.referred_columns if target.column(c) is None]
        if lacking:
            raise SchemaValidationError(f"{where}: foreign key {fk.columns} refers to "
                                        f"{fk.referred_table}.{lacking[0]}, which does not exist")
    for check in table.checks:
        if not check.expression.strip():
            raise SchemaValidationError(f"{where}: a check constraint has an empty expression")
        named = f"check constraint {check.name!r} of {where}" if check.name else f"a check constraint of {where}"
        check_fragment(check.expression, named)
