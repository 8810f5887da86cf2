"""Whole-schema DDL: the CREATE script of a definition, for any dialect.

The script is the plan of a diff from an empty schema, so it gets the same
dependency order as migrations (enums and sequences first, parent tables
before children, views last) and the same normalisation.
"""

from __future__ import annotations

from dbkeeper.schema import operations as ops
from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.dialects import join_statements, render_ddl
from dbkeeper.schema.model import SchemaDefinition


def schema_statements(renderer: DDLRenderer, schema: SchemaDefinition, *, if_not_exists: bool = False) -> list[str]:
    """Every statement that creates ``schema`` on ``renderer``'s dialect, in dependency order."""
    from dbkeeper.schema.diff import diff_schemas
    from dbkeeper.schema.normalize import normalize
    from dbkeeper.schema.planner import plan
    from dbkeeper.schema.validation import validate

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


def render_schema_sql(schema: SchemaDefinition, dialect: str) -> str:
    """The CREATE script of ``schema`` for ``dialect`` as text (through the ``render_ddl`` hook)."""
    return join_statements(render_ddl(dialect, schema))
