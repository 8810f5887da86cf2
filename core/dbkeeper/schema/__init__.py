"""Schemas: model definitions, DDL per dialect, introspection, diffs, drift reports and generated migrations.

Public names are re-exported lazily (PEP 562), so importing the package
costs nothing until a name is used::

    from dbkeeper.schema import SchemaDefinition, SchemaGenerator, compare, introspect

See ``docs/schema.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbkeeper._exports import lazy_getattr

_EXPORTS: dict[str, str] = {
    "SchemaDefinition": "dbkeeper.schema.model",
    "SchemaTable": "dbkeeper.schema.model",
    "SchemaColumn": "dbkeeper.schema.model",
    "SchemaIndex": "dbkeeper.schema.model",
    "SchemaForeignKey": "dbkeeper.schema.model",
    "SchemaUniqueConstraint": "dbkeeper.schema.model",
    "SchemaCheck": "dbkeeper.schema.model",
    "SchemaView": "dbkeeper.schema.model",
    "SchemaEnum": "dbkeeper.schema.model",
    "SchemaSequence": "dbkeeper.schema.model",
    "validate": "dbkeeper.schema.validation",
    "DDLRenderer": "dbkeeper.schema.ddl",
    "render_ddl": "dbkeeper.schema.dialects",
    "SchemaDiff": "dbkeeper.schema.migration",
    "compare": "dbkeeper.schema.migration",
    "generate_migration": "dbkeeper.schema.migration",
    "migration_from_diff": "dbkeeper.schema.migration",
    "introspect": "dbkeeper.schema.introspect",
    "drift_report": "dbkeeper.schema.report",
    "SchemaGenerator": "dbkeeper.schema.generator",
    "generate_schema": "dbkeeper.schema.generator",
    "from_sqlalchemy": "dbkeeper.schema.sqlalchemy_models",
    "load_schema": "dbkeeper.schema.sources",
    "SchemaError": "dbkeeper.schema.errors",
    "SchemaValidationError": "dbkeeper.schema.errors",
    "SchemaInputError": "dbkeeper.schema.errors",
    "DestructiveChangeError": "dbkeeper.schema.errors",
    "UnsupportedSchemaFeatureError": "dbkeeper.schema.errors",
}

__all__ = [
    "DDLRenderer",
    "DestructiveChangeError",
    "SchemaCheck",
    "SchemaColumn",
    "SchemaDefinition",
    "SchemaDiff",
    "SchemaEnum",
    "SchemaError",
    "SchemaForeignKey",
    "SchemaGenerator",
    "SchemaIndex",
    "SchemaInputError",
    "SchemaSequence",
    "SchemaTable",
    "SchemaUniqueConstraint",
    "SchemaValidationError",
    "SchemaView",
    "UnsupportedSchemaFeatureError",
    "compare",
    "drift_report",
    "from_sqlalchemy",
    "generate_migration",
    "generate_schema",
    "introspect",
    "load_schema",
    "migration_from_diff",
    "render_ddl",
    "validate",
]

if TYPE_CHECKING:
    from dbkeeper.schema.ddl import DDLRenderer
    from dbkeeper.schema.dialects import render_ddl
    from dbkeeper.schema.errors import (
        DestructiveChangeError,
        SchemaError,
        SchemaInputError,
        SchemaValidationError,
        UnsupportedSchemaFeatureError,
    )
    from dbkeeper.schema.generator import SchemaGenerator, generate_schema
    from dbkeeper.schema.introspect import introspect
    from dbkeeper.schema.migration import SchemaDiff, compare, generate_migration, migration_from_diff
    from dbkeeper.schema.model import (
        SchemaCheck,
        SchemaColumn,
        SchemaDefinition,
        SchemaEnum,
        SchemaForeignKey,
        SchemaIndex,
        SchemaSequence,
        SchemaTable,
        SchemaUniqueConstraint,
        SchemaView,
    )
    from dbkeeper.schema.report import drift_report
    from dbkeeper.schema.sources import load_schema
    from dbkeeper.schema.sqlalchemy_models import from_sqlalchemy
    from dbkeeper.schema.validation import validate


__getattr__ = lazy_getattr(globals(), _EXPORTS)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
