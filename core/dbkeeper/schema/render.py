"""Rendering schema objects: the CREATE script of a definition, and any one object, for any dialect.

The script is the plan of a diff from an empty schema, so it gets the same
dependency order as migrations (enums and sequences first, parent tables
before children, views last) and the same normalisation. :func:`render_object`
is what ``Dialect.render_ddl`` does by default (through
:class:`~dbkeeper.schema.support.BaseSchemaSupport`); it lives here, above the
renderer, the normaliser and the planner it drives, so none of them imports
it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbkeeper.schema import operations as ops
from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.dialects import join_statements, render_ddl
from dbkeeper.schema.errors import SchemaError
from dbkeeper.schema.model import (
    SchemaDefinition,
    SchemaEnum,
    SchemaIndex,
    SchemaSequence,
    SchemaTable,
    SchemaView,
    validate,
)


def schema_statements(renderer: DDLRenderer, schema: SchemaDefinition, *, if_not_exists: bool = False) -> list[str]:
    """Every statement that creates ``schema`` on ``renderer``'s dialect, in dependency order."""
    from dbkeeper.schema.diff import diff_schemas
    from dbkeeper.schema.normalize import normalize
    from dbkeeper.schema.planner import plan

    if schema.dialect is None:
        validate(schema)
    target = normalize(schema, renderer)
    empty = SchemaDefinition(name=schema.name, version=schema.version)
    statements: list[str] = []
    for op in plan(diff_schemas(empty, target, renderer), empty, target, renderer):
        if isinstance(op, ops.CreateTable) and if_not_exists:
            statements.extend(renderer.create_table(op.table, skip_fks=op.deferred_fks, if_not_exists=True))
        else:
            statements.extend(renderer.render_operation(op))
    return statements


def render_object(renderer: DDLRenderer, obj: Any, options: Mapping[str, Any]) -> list[str]:
    """Statements for a definition, table, index, view, enum, sequence, diff operation or a list of them.

    ``options``: ``if_not_exists`` (CREATE ... IF NOT EXISTS), ``table``
    (the table an index belongs to). Anything else raises :class:`SchemaError`.
    """
    if_not_exists = bool(options.get("if_not_exists", False))
    if isinstance(obj, SchemaDefinition):
        return schema_statements(renderer, obj, if_not_exists=if_not_exists)
    if isinstance(obj, SchemaTable):
        from dbkeeper.schema.normalize import normalize

        alone = normalize(SchemaDefinition(name=obj.name, tables=[obj]), renderer)
        types = [s for enum in alone.enums for s in renderer.create_enum(enum)]  # inline enums need their type
        return types + renderer.create_table(alone.tables[0], if_not_exists=if_not_exists)
    if isinstance(obj, SchemaIndex):
        table = options.get("table")
        if not table:
            raise SchemaError("rendering an index needs options={'table': name}")
        return [renderer.create_index(str(table), obj, if_not_exists=if_not_exists)]
    if isinstance(obj, SchemaView):
        return renderer.create_view(obj)
    if isinstance(obj, SchemaEnum):
        return renderer.create_enum(obj)
    if isinstance(obj, SchemaSequence):
        return renderer.create_sequence(obj)
    if isinstance(obj, ops.Operation):
        return renderer.render_operation(obj)
    if isinstance(obj, list | tuple):
        return [s for item in obj for s in render_object(renderer, item, options)]
    raise SchemaError(f"render_ddl cannot render a {type(obj).__name__}; pass a SchemaDefinition, SchemaTable, "
                      "SchemaIndex, SchemaView, SchemaEnum, SchemaSequence or a diff operation")


def render_schema_sql(schema: SchemaDefinition, dialect: str) -> str:
    """The CREATE script of ``schema`` for ``dialect`` as text (through ``Dialect.render_ddl``)."""
    return join_statements(render_ddl(dialect, schema))
