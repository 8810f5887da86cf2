"""From two definitions to a :class:`SchemaDiff`, and from a diff to a :class:`Migration`.

``compare`` normalises both sides for the dialect, diffs them with the
target's rename hints, orders the operations and renders them through the
``render_ddl`` hook; the rollback is the diff in the other direction with
the hints inverted, so applying up then rollback gives back the start.
``generate_migration`` refuses destructive changes unless allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbkeeper.schema import operations as ops
from dbkeeper.schema.dialects import join_statements, render_ddl, resolve_dialect
from dbkeeper.schema.errors import DestructiveChangeError
from dbkeeper.schema.model import SchemaDefinition

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.migrations.model import Migration


@dataclass
class SchemaDiff:
    """The difference between a current and a target schema on one dialect.

    ``statements`` turn current into target; ``rollback_statements`` turn it
    back. ``suggestions`` are likely renames (never applied);
    ``notes`` say what the dialect cannot store (comments on SQLite).
    """

    dialect: str
    operations: list[ops.Operation] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    rollback_operations: list[ops.Operation] = field(default_factory=list)
    rollback_statements: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when the schemas match (no drift)."""
        return not self.operations

    @property
    def destructive(self) -> list[str]:
        """The changes that can lose data, as report lines."""
        found: list[str] = []
        for op in self.operations:
            inner = op.changes if isinstance(op, ops.RebuildTable) else (op,)
            found.extend(change.describe() for change in inner if change.destructive)
        return found

    @property
    def changes(self) -> list[str]:
        """Every change as a report line, in execution order."""
        return [op.describe() for op in self.operations]

    def up_sql(self) -> str:
        """The forward script."""
        return join_statements(self.statements)

    def rollback_sql(self) -> str:
        """The rollback script."""
        return join_statements(self.rollback_statements)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the drift report's JSON)."""
        return {"dialect": self.dialect, "drift": not self.is_empty, "changes": self.changes,
                "destructive": self.destructive, "suggestions": list(self.suggestions), "notes": list(self.notes),
                "up_sql": self.statements, "rollback_sql": self.rollback_statements}


def _notes(schema: SchemaDefinition, renderer_comments: bool, dialect: str) -> list[str]:
    if renderer_comments:
        return []
    has = any(t.comment for t in schema.tables) or any(c.comment for t in schema.tables for c in t.columns)
    return [f"{dialect} cannot store comments; the definition's comments are not compared"] if has else []


def compare(current: SchemaDefinition, target: SchemaDefinition, dialect: str | Dialect) -> SchemaDiff:
    """The :class:`SchemaDiff` that turns ``current`` into ``target`` on ``dialect``."""
    from dbkeeper.schema.diff import RenameHints, diff_schemas
    from dbkeeper.schema.normalize import normalize
    from dbkeeper.schema.planner import plan
    from dbkeeper.schema.validation import validate

    resolved = resolve_dialect(dialect)
    renderer = resolved.ddl_renderer()
    for schema in (current, target):
        if schema.dialect is None:
            validate(schema)
    hints = RenameHints.from_definition(target)
    old, new = normalize(current, renderer), normalize(target, renderer)
    raw = diff_schemas(old, new, renderer, hints)
    forward = plan(raw, old, new, renderer)
    backward = plan(diff_schemas(new, old, renderer, hints.inverted()), new, old, renderer)
    return SchemaDiff(
        dialect=resolved.name, operations=forward, statements=_render(resolved, forward),
        rollback_operations=backward, rollback_statements=_render(resolved, backward),
        suggestions=raw.suggestions, notes=_notes(target, renderer.comments, resolved.name))


def _render(dialect: Dialect, operations: list[ops.Operation]) -> list[str]:
    if not operations:
        return []
    return render_ddl(dialect, operations, {"script": True})


def migration_from_diff(diff: SchemaDiff, *, name: str, description: str = "", allow_destructive: bool = False,
                        migration_id: str | None = None) -> Migration:
    """A :class:`~dbkeeper.migrations.model.Migration` with the diff's up and rollback SQL.

    Raises :class:`DestructiveChangeError` listing the drops and narrowing
    changes unless ``allow_destructive`` is true.
    """
    from dbkeeper.migrations.model import Migration

    destructive = diff.destructive
    if destructive and not allow_destructive:
        raise DestructiveChangeError(
            f"the migration {name!r} would lose data ({len(destructive)} destructive change(s): "
            f"{'; '.join(destructive)}); review them and pass allow_destructive=True (CLI: --allow-destructive)",
            destructive)
    ident = migration_id or _slug(name)
    return Migration(id=ident, name=name, description=description or "; ".join(diff.changes)[:500],
                     sql=diff.up_sql(), rollback_sql=diff.rollback_sql() or None)


def generate_migration(current: SchemaDefinition, target: SchemaDefinition, dialect: str | Dialect, *,
                       name: str = "schema_change", description: str = "", allow_destructive: bool = False,
                       migration_id: str | None = None) -> Migration:
    """Diff ``current`` against ``target`` and return the migration that applies the difference."""
    return migration_from_diff(compare(current, target, dialect), name=name, description=description,
                               allow_destructive=allow_destructive, migration_id=migration_id)


def _slug(name: str) -> str:
    from datetime import UTC, datetime

    text = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_") or "schema"
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}_{text}"
