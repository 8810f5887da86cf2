"""Bring a definition into the form a dialect would report it in, before it is rendered or compared.

Applying a generated migration and introspecting the database must give
back exactly the target, or the next diff would not be empty. So each side
of a comparison is normalised for the dialect first: types become what the
database reads them back as, literal defaults take the column type's
canonical form, unnamed indexes and constraints get deterministic names,
and what the dialect cannot store is mapped the way it will be stored
(SQLite enums become a TEXT column with a CHECK, MySQL unique indexes are
unique constraints). Anything a dialect cannot represent at all, such as a
sequence on MySQL, raises :class:`UnsupportedSchemaFeatureError` instead of
being silently dropped; comments on SQLite, which has nowhere to keep them,
are the one documented exception.
"""

from __future__ import annotations

import copy

from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.errors import SchemaValidationError, UnsupportedSchemaFeatureError
from dbkeeper.schema.expressions import canonical_literal, expression_key, parse_reported_default
from dbkeeper.schema.model import (
    SchemaCheck,
    SchemaColumn,
    SchemaDefinition,
    SchemaEnum,
    SchemaTable,
    SchemaUniqueConstraint,
)
from dbkeeper.schema.names import check_name, object_name
from dbkeeper.schema.types import parse_type


def normalize(schema: SchemaDefinition, renderer: DDLRenderer) -> SchemaDefinition:
    """A normalised deep copy of ``schema`` for ``renderer``'s dialect (the input is left untouched)."""
    result = copy.deepcopy(schema)
    if result.sequences and not renderer.sequences:
        raise UnsupportedSchemaFeatureError(
            f"{renderer.dialect.name} has no sequences, but the schema defines {result.sequences[0].name!r}; "
            "remove it or use a dialect with sequences (postgres)")
    enums = {e.name: e for e in result.enums}
    for table in result.tables:
        _normalize_table(table, renderer, enums)
    result.enums = sorted(enums.values(), key=lambda e: e.name) if renderer.named_enums else []
    return result


def _normalize_table(table: SchemaTable, r: DDLRenderer, enums: dict[str, SchemaEnum]) -> None:
    extra_checks: list[SchemaCheck] = []
    for column in table.columns:
        _normalize_column(table, column, r, enums, extra_checks)
    if not r.comments:
        table.comment = None
    table.checks.extend(extra_checks)
    seen_checks: set[str] = set()
    checks = []
    for check in table.checks:
        key = expression_key(check.expression)
        if key in seen_checks:
            continue
        seen_checks.add(key)
        checks.append(SchemaCheck(check.expression, check.name or check_name(table.name, key)))
    table.checks = checks
    for index in table.indexes:
        if not index.name:
            index.name = object_name("ux" if index.unique else "ix", table.name, index.columns)
    if r.unique_index_is_constraint:
        for index in [i for i in table.indexes if i.unique]:
            table.indexes.remove(index)
            table.unique_constraints.append(SchemaUniqueConstraint(index.columns, index.name))
    uniques: dict[tuple[str, ...], SchemaUniqueConstraint] = {}
    for unique in table.unique_constraints:
        uniques.setdefault(unique.columns, unique)
        if not unique.name:
            unique.name = object_name("uq", table.name, unique.columns)
    table.unique_constraints = list(uniques.values())
    for fk in table.foreign_keys:
        if not fk.name:
            fk.name = object_name("fk", table.name, fk.columns)
        if r.restrict_is_no_action:
            fk.on_delete = None if fk.on_delete == "RESTRICT" else fk.on_delete
            fk.on_update = None if fk.on_update == "RESTRICT" else fk.on_update
    r.normalize_table(table)


def _normalize_column(table: SchemaTable, column: SchemaColumn, r: DDLRenderer, enums: dict[str, SchemaEnum],
                      extra_checks: list[SchemaCheck]) -> None:
    ctype = parse_type(column.type, strict=False)
    if ctype.name == "ENUM":
        if column.enum and not column.enum_values:
            enum = enums.get(column.enum)
            if enum is None:
                raise SchemaValidationError(f"column {table.name}.{column.name} uses undefined enum {column.enum!r}")
            column.enum_values = enum.values
        if r.named_enums:
            column.enum = column.enum or object_name("enum", table.name, [column.name])
            enums.setdefault(column.enum, SchemaEnum(column.enum, column.enum_values))
        elif r.inline_enums:
            column.enum = None
        else:
            values = ", ".join(r.string(v) for v in column.enum_values)
            extra_checks.append(SchemaCheck(f"{r.q(column.name)} IN ({values})"))
            column.type, column.enum, column.enum_values = "TEXT", None, ()
    if column.type != "ENUM":
        column.type = r.canonical_type(column)
    ctype = parse_type(column.type, strict=False)
    if column.default_expression is not None:
        literal, expression = parse_reported_default(column.default_expression)
        column.default, column.default_expression = literal, expression
    column.default = canonical_literal(column.default, ctype)
    if column.primary_key:
        column.nullable = False
    if column.autoincrement and not r.alter_table:
        # SQLite: only the INTEGER PRIMARY KEY (the 64-bit rowid) autoincrements, whatever integer width was asked.
        if table.primary_key == (column.name,):
            column.type = "INTEGER"
        else:
            column.autoincrement = False
    if column.autoincrement and r.alter_table:
        column.nullable = False
    if column.generated is not None and not r.virtual_generated:
        column.generated_stored = True
    if not r.comments:
        column.comment = None
    column.unique = False
    column.foreign_key = None
    column.renamed_from = None
