"""``SchemaGenerator`` and ``generate_schema``: the seed API, kept name for name, on top of the toolkit.

The generator remembers the tables it rendered (so ``generate_schema_sql``
and ``export_schema`` describe them) and keeps generated migrations as JSON
files in ``<workspace>/migrations``, where ``MigrationManager`` finds them.

Seed shapes: :meth:`SchemaGenerator.generate_migration` returns a
:class:`SchemaMigration` (a :class:`~dbkeeper.migrations.model.Migration`
that also remembers the changes it came from) and
:meth:`SchemaGenerator.list_migrations` returns dicts;
:meth:`SchemaGenerator.get_migrations` returns the objects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbkeeper.migrations.model import Migration
from dbkeeper.schema.dialects import join_statements, render_ddl
from dbkeeper.schema.errors import SchemaInputError
from dbkeeper.schema.model import SchemaDefinition, SchemaTable, table_from_dict

if TYPE_CHECKING:
    from dbkeeper.migrations.manager import MigrationManager
    from dbkeeper.schema.migration import SchemaDiff


@dataclass(eq=False)
class SchemaMigration(Migration):
    """What :meth:`SchemaGenerator.generate_migration` returns: a migration plus the changes it was built from.

    It *is* a :class:`~dbkeeper.migrations.model.Migration` (the file it
    wrote is what ``MigrationManager`` applies); ``up_sql``/``down_sql`` and
    ``migration_id`` read its ``sql``/``rollback_sql``/``id`` under the
    names schema-migration code uses.
    """

    changes: Any = field(default=None, repr=False)

    @property
    def migration_id(self) -> str:
        return self.id

    @property
    def up_sql(self) -> str:
        return self.sql

    @property
    def down_sql(self) -> str | None:
        return self.rollback_sql

    @classmethod
    def of(cls, migration: Migration, changes: Any) -> SchemaMigration:
        """The same migration (fields, source file) as a :class:`SchemaMigration`."""
        made = cls(id=migration.id, name=migration.name, description=migration.description, sql=migration.sql,
                   rollback_sql=migration.rollback_sql, dependencies=list(migration.dependencies),
                   created_at=migration.created_at, applied_at=migration.applied_at, status=migration.status,
                   source=migration.source, changes=changes)
        return made


def _definition(value: Any, what: str) -> SchemaDefinition:
    if isinstance(value, SchemaDefinition):
        return value
    if isinstance(value, Mapping):
        return SchemaDefinition.from_dict(value)
    if isinstance(value, str):
        from dbkeeper.schema.sources import load_schema

        return load_schema(value)
    raise SchemaInputError(f"{what} must be a SchemaDefinition, its dict form, a URL or a file, not "
                           f"{type(value).__name__}")


class SchemaGenerator:
    """Render tables, compare schemas and generate migrations for one dialect."""

    def __init__(self, workspace_dir: str | os.PathLike[str] | None = None, dialect: str = "sqlite") -> None:
        self._workspace_arg = workspace_dir
        self.dialect = dialect
        self.tables: dict[str, SchemaTable] = {}

    @property
    def workspace_dir(self) -> Path:
        """dbkeeper's workspace (created on first use)."""
        from dbkeeper.workspace import resolve_workspace

        return resolve_workspace(self._workspace_arg)

    @property
    def migrations_dir(self) -> Path:
        """Where generated migrations are written."""
        return self.workspace_dir / "migrations"

    # -- tables ---------------------------------------------------------------------------------------------
    def create_table(self, table: SchemaTable) -> str:
        """``CREATE TABLE`` (plus its indexes) for ``table`` in the generator's dialect; remembers the table."""
        schema = SchemaDefinition(name=table.name, tables=[table])
        from dbkeeper.schema.validation import validate

        tables_known = {**self.tables, table.name: table}
        context = SchemaDefinition(name="generator", tables=list(tables_known.values()))
        validate(context)
        self.tables[table.name] = table
        statements = render_ddl(self.dialect, schema)
        return join_statements(statements)

    def create_table_from_dict(self, table_def: Mapping[str, Any]) -> str:
        """:meth:`create_table` for a table's dict form (``name``, ``columns``, ``indexes``...)."""
        return self.create_table(table_from_dict(table_def))

    def generate_schema_sql(self, schema_name: str, version: str = "1.0.0") -> str:
        """The CREATE script of every table created so far, as one schema."""
        return self.schema(schema_name, version).to_sql(self.dialect)

    def schema(self, schema_name: str = "schema", version: str = "1.0.0") -> SchemaDefinition:
        """The tables created so far as a :class:`SchemaDefinition` (a copy: changing it changes nothing here)."""
        import copy

        return SchemaDefinition(name=schema_name, version=version, tables=copy.deepcopy(list(self.tables.values())))

    def export_schema(self, output_path: str | os.PathLike[str], format: str = "sql") -> str:  # noqa: A002
        """Write the tables created so far as SQL or JSON; return the path written."""
        from dbkeeper.schema.files import write_text_atomically

        if format not in ("sql", "json"):
            raise SchemaInputError(f"unknown export format {format!r}; use 'sql' or 'json'")
        schema = self.schema(Path(output_path).stem)
        text = schema.to_sql(self.dialect) if format == "sql" else json.dumps(schema.to_dict(), indent=2) + "\n"
        write_text_atomically(Path(output_path), text)
        return str(output_path)

    # -- comparing ----------------------------------------------------------------------------------------------
    def diff(self, current_schema: Any, target_schema: Any) -> SchemaDiff:
        """The :class:`~dbkeeper.schema.migration.SchemaDiff` between two schemas in the generator's dialect."""
        from dbkeeper.schema.migration import compare

        return compare(_definition(current_schema, "current_schema"), _definition(target_schema, "target_schema"),
                       self.dialect)

    def compare_schemas(self, current_schema: Any, target_schema: Any) -> dict[str, Any]:
        """What differs: tables added, removed and modified, every change, the SQL, destructive changes."""
        from dbkeeper.schema import operations as ops

        diff = self.diff(current_schema, target_schema)
        modified: dict[str, list[str]] = {}
        for op in diff.operations:
            table = getattr(op, "table", None)
            if isinstance(table, str):
                modified.setdefault(table, []).append(op.describe())
        return {
            "added_tables": [op.table.name for op in diff.operations if isinstance(op, ops.CreateTable)],
            "removed_tables": [op.table.name for op in diff.operations if isinstance(op, ops.DropTable)],
            "renamed_tables": [[op.old, op.new] for op in diff.operations if isinstance(op, ops.RenameTable)],
            "modified_tables": modified,
            "changes": diff.changes,
            "destructive": diff.destructive,
            "suggestions": diff.suggestions,
            "sql": diff.statements,
            "rollback_sql": diff.rollback_statements,
            "identical": diff.is_empty,
        }

    def get_schema_drift_report(self, current_schema: Any, target_schema: Any) -> dict[str, Any]:
        """The drift report as a dict (``has_drift``, ``drift_count``, changes, text)."""
        from dbkeeper.schema.report import drift_dict, drift_report

        current, target = _definition(current_schema, "current_schema"), _definition(target_schema, "target_schema")
        from dbkeeper.schema.migration import compare

        diff = compare(current, target, self.dialect)
        data = drift_dict(diff, current.name, target.name)
        data["has_drift"] = not diff.is_empty
        data["report"] = drift_report(diff, current.name, target.name)
        return data

    # -- migrations ------------------------------------------------------------------------------------------------
    def generate_migration(self, name: str, description: str, changes: Any, *,
                           allow_destructive: bool = False) -> SchemaMigration:
        """Write a migration built from ``changes`` into the workspace; return it as a :class:`SchemaMigration`.

        ``changes`` is a mapping ``{"current": schema, "target": schema}``
        whose diff becomes the up and rollback SQL (destructive changes need
        ``allow_destructive``), a mapping ``{"sql": ..., "rollback_sql": ...}``,
        or SQL (a string or a list of statements).
        """
        from dbkeeper.schema.migration import migration_from_diff

        if isinstance(changes, Mapping) and {"current", "target"} <= set(changes):
            diff = self.diff(changes["current"], changes["target"])
            draft = migration_from_diff(diff, name=name, description=description,
                                        allow_destructive=allow_destructive)
            sql, rollback = draft.sql, draft.rollback_sql
        elif isinstance(changes, Mapping) and isinstance(changes.get("sql"), str):
            unknown = sorted(str(k) for k in changes if k not in ("sql", "rollback_sql"))
            rollback = changes.get("rollback_sql")
            if unknown or not (rollback is None or isinstance(rollback, str)):
                raise SchemaInputError(f"changes: with 'sql' only 'rollback_sql' (SQL text) may be given; "
                                       f"got {unknown or ['rollback_sql of type ' + type(rollback).__name__]}")
            sql = changes["sql"]
        elif isinstance(changes, str):
            sql, rollback = changes, None
        elif isinstance(changes, Iterable) and all(isinstance(c, str) for c in changes):
            sql, rollback = join_statements(list(changes)), None
        else:
            raise SchemaInputError("changes must be SQL (a string or a list of statements), "
                                   "{'sql': ..., 'rollback_sql': ...} or {'current': schema, 'target': schema}")
        return SchemaMigration.of(self._manager().create_migration(name, description, sql, rollback), changes)

    def _manager(self) -> MigrationManager:
        from dbkeeper.migrations.manager import MigrationManager

        manager = MigrationManager(workspace_dir=self.workspace_dir)
        if self.migrations_dir.is_dir():
            manager.load_migrations_from_directory(self.migrations_dir)
        else:
            manager.migrations_dir = self.migrations_dir
        return manager

    def list_migrations(self) -> list[dict[str, Any]]:
        """Seed API: the migrations in the workspace's migrations directory, in execution order, as dicts.

        The keys are those of :meth:`MigrationManager.list_migrations
        <dbkeeper.migrations.manager.MigrationManager.list_migrations>`
        (status ``pending``: the generator knows no database).
        """
        return [migration.to_dict() for migration in self.get_migrations()]

    def get_migrations(self) -> list[Migration]:
        """Migrations in the workspace's migrations directory, in execution order."""
        if not self.migrations_dir.is_dir():
            return []
        from dbkeeper.migrations.files import load_directory
        from dbkeeper.migrations.planner import build_graph

        return list(build_graph(load_directory(self.migrations_dir)))


def generate_schema(models: Any, output_dir: str | os.PathLike[str], dialect: str = "sqlite",
                    schema_name: str = "schema") -> dict[str, Any]:
    """Render models (table dicts, SQLAlchemy classes/Tables/MetaData, a SchemaDefinition) to ``schema.sql``.

    Returns ``{"tables_generated", "schema_file", "message"}``; unsupported
    input raises :class:`SchemaInputError` naming it.
    """
    schema = models_to_schema(models, schema_name)
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{schema_name}.sql"
    from dbkeeper.schema.files import write_text_atomically

    write_text_atomically(path, schema.to_sql(dialect))
    count = len(schema.tables)
    return {"tables_generated": count, "schema_file": str(path),
            "message": f"generated {count} table(s) for {dialect} in {path}"}


def models_to_schema(models: Any, schema_name: str = "schema") -> SchemaDefinition:
    """One validated :class:`SchemaDefinition` from any mix of supported model inputs."""
    from dbkeeper.schema.sqlalchemy_models import from_sqlalchemy, is_sqlalchemy_model
    from dbkeeper.schema.validation import validate

    if isinstance(models, SchemaDefinition):
        return validate(models)
    items: Sequence[Any] = models if isinstance(models, list | tuple) else [models]
    tables: list[SchemaTable] = []
    enums: list[Any] = []
    for item in items:
        if isinstance(item, SchemaTable):
            tables.append(item)
        elif isinstance(item, Mapping):
            tables.append(table_from_dict(item))
        elif is_sqlalchemy_model(item):
            converted = from_sqlalchemy(item)
            tables.extend(t for t in converted.tables if all(t.name != o.name for o in tables))
            enums.extend(e for e in converted.enums if all(e.name != o.name for o in enums))
        else:
            raise SchemaInputError(f"unsupported model {item!r} ({type(item).__name__}); pass table dicts with "
                                   "'name', 'columns' and 'indexes', SQLAlchemy declarative classes, Tables or "
                                   "a MetaData")
    if not tables:
        raise SchemaInputError("no tables to generate: the models list is empty")
    return validate(SchemaDefinition(name=schema_name, tables=tables, enums=enums))
