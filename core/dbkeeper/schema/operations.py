"""The changes a diff is made of: one small frozen data class per kind of DDL operation.

The differ produces them, the planner orders them (and folds SQLite's
unsupported ALTERs into :class:`RebuildTable`), each dialect's renderer
turns them into SQL. ``describe()`` is the line the drift report shows;
``destructive`` marks the changes that can lose data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from dbkeeper.schema.model import (
    SchemaCheck,
    SchemaColumn,
    SchemaEnum,
    SchemaForeignKey,
    SchemaIndex,
    SchemaSequence,
    SchemaTable,
    SchemaUniqueConstraint,
    SchemaView,
)


@dataclass(frozen=True)
class Operation(ABC):
    """Base class: every operation names the object kind it touches."""

    #: True when the operation can lose data (drops, narrowing type changes, enum values removed).
    destructive = False

    @abstractmethod
    def describe(self) -> str:
        """One human-readable line for reports."""


@dataclass(frozen=True)
class CreateTable(Operation):
    table: SchemaTable
    #: Foreign keys left out of the CREATE TABLE (added later to break a cycle).
    deferred_fks: tuple[int, ...] = ()

    def describe(self) -> str:
        return f"create table {self.table.name}"


@dataclass(frozen=True)
class DropTable(Operation):
    table: SchemaTable
    destructive = True

    def describe(self) -> str:
        return f"drop table {self.table.name}"


@dataclass(frozen=True)
class RenameTable(Operation):
    old: str
    new: str

    def describe(self) -> str:
        return f"rename table {self.old} to {self.new}"


@dataclass(frozen=True)
class AddColumn(Operation):
    table: str
    column: SchemaColumn

    def describe(self) -> str:
        return f"add column {self.table}.{self.column.name} {self.column.type}"


@dataclass(frozen=True)
class DropColumn(Operation):
    table: str
    column: SchemaColumn
    destructive = True

    def describe(self) -> str:
        return f"drop column {self.table}.{self.column.name}"


@dataclass(frozen=True)
class RenameColumn(Operation):
    table: str
    old: str
    new: str

    def describe(self) -> str:
        return f"rename column {self.table}.{self.old} to {self.new}"


@dataclass(frozen=True)
class AlterColumn(Operation):
    """Type, nullability, default, identity, enum or comment of one column changed."""

    table: str
    old: SchemaColumn
    new: SchemaColumn
    changes: tuple[str, ...] = ()
    narrowing: bool = False

    @property
    def destructive(self) -> bool:  # type: ignore[override]
        return self.narrowing

    def describe(self) -> str:
        parts = []
        for change in self.changes:
            before, after = _column_aspect(self.old, change), _column_aspect(self.new, change)
            parts.append(f"{change} {before} -> {after}")
        return f"alter column {self.table}.{self.new.name}: {'; '.join(parts)}"


def _column_aspect(column: SchemaColumn, aspect: str) -> str:
    if aspect == "default":
        if column.default_expression is not None:
            return column.default_expression
        return "none" if column.default is None else repr(column.default)
    if aspect == "type":
        return column.type + (f"{list(column.enum_values)}" if column.enum_values else "")
    if aspect == "nullable":
        return "NULL" if column.nullable else "NOT NULL"
    value = getattr(column, aspect if aspect != "identity" else "autoincrement")
    return repr(value)


@dataclass(frozen=True)
class SetPrimaryKey(Operation):
    table: str
    old: tuple[str, ...]
    new: tuple[str, ...]
    old_name: str | None = None

    def describe(self) -> str:
        return f"primary key of {self.table}: ({', '.join(self.old)}) -> ({', '.join(self.new)})"


@dataclass(frozen=True)
class AddForeignKey(Operation):
    table: str
    fk: SchemaForeignKey

    def describe(self) -> str:
        return f"add foreign key {self.table}({', '.join(self.fk.columns)}) -> {self.fk.referred_table}"


@dataclass(frozen=True)
class DropForeignKey(Operation):
    table: str
    fk: SchemaForeignKey

    def describe(self) -> str:
        return f"drop foreign key {self.table}({', '.join(self.fk.columns)}) -> {self.fk.referred_table}"


@dataclass(frozen=True)
class AddUnique(Operation):
    table: str
    unique: SchemaUniqueConstraint

    def describe(self) -> str:
        return f"add unique constraint {self.table}({', '.join(self.unique.columns)})"


@dataclass(frozen=True)
class DropUnique(Operation):
    table: str
    unique: SchemaUniqueConstraint

    def describe(self) -> str:
        return f"drop unique constraint {self.table}({', '.join(self.unique.columns)})"


@dataclass(frozen=True)
class AddCheck(Operation):
    table: str
    check: SchemaCheck

    def describe(self) -> str:
        return f"add check on {self.table}: {self.check.expression}"


@dataclass(frozen=True)
class DropCheck(Operation):
    table: str
    check: SchemaCheck

    def describe(self) -> str:
        return f"drop check on {self.table}: {self.check.expression}"


@dataclass(frozen=True)
class CreateIndex(Operation):
    table: str
    index: SchemaIndex

    def describe(self) -> str:
        kind = "unique index" if self.index.unique else "index"
        return f"create {kind} {self.index.name} on {self.table}({', '.join(self.index.columns)})"


@dataclass(frozen=True)
class DropIndex(Operation):
    table: str
    index: SchemaIndex

    def describe(self) -> str:
        return f"drop index {self.index.name} on {self.table}"


@dataclass(frozen=True)
class SetTableComment(Operation):
    table: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        return f"comment on table {self.table}: {self.old!r} -> {self.new!r}"


@dataclass(frozen=True)
class CreateView(Operation):
    view: SchemaView

    def describe(self) -> str:
        return f"create view {self.view.name}"


@dataclass(frozen=True)
class DropView(Operation):
    view: SchemaView

    def describe(self) -> str:
        return f"drop view {self.view.name}"


@dataclass(frozen=True)
class CreateEnum(Operation):
    enum: SchemaEnum

    def describe(self) -> str:
        return f"create enum {self.enum.name} {list(self.enum.values)}"


@dataclass(frozen=True)
class DropEnum(Operation):
    enum: SchemaEnum

    def describe(self) -> str:
        return f"drop enum {self.enum.name}"


@dataclass(frozen=True)
class AlterEnum(Operation):
    """Values of a named enum changed. Appending values is safe; removing or reordering recreates the type."""

    old: SchemaEnum
    new: SchemaEnum
    #: (table, column) pairs using the enum, which a recreation must convert.
    users: tuple[tuple[str, str], ...] = ()

    @property
    def destructive(self) -> bool:  # type: ignore[override]
        return not set(self.old.values) <= set(self.new.values)

    @property
    def appends_only(self) -> bool:
        """True when the new values are the old ones followed by new ones."""
        return self.new.values[:len(self.old.values)] == self.old.values

    def describe(self) -> str:
        return f"alter enum {self.new.name}: {list(self.old.values)} -> {list(self.new.values)}"


@dataclass(frozen=True)
class CreateSequence(Operation):
    sequence: SchemaSequence

    def describe(self) -> str:
        return f"create sequence {self.sequence.name}"


@dataclass(frozen=True)
class DropSequence(Operation):
    sequence: SchemaSequence
    destructive = True

    def describe(self) -> str:
        return f"drop sequence {self.sequence.name}"


@dataclass(frozen=True)
class AlterSequence(Operation):
    old: SchemaSequence
    new: SchemaSequence

    def describe(self) -> str:
        return (f"alter sequence {self.new.name}: start {self.old.start} -> {self.new.start}, "
                f"increment {self.old.increment} -> {self.new.increment}")


@dataclass(frozen=True)
class RebuildTable(Operation):
    """SQLite's documented twelve-step rebuild: new table, copy rows, drop old, rename.

    ``column_map`` maps each new column to the old column its values come
    from; ``changes`` are the operations the rebuild stands for (for reports
    and the destructive check).
    """

    old: SchemaTable
    new: SchemaTable
    column_map: tuple[tuple[str, str], ...] = ()
    changes: tuple[Operation, ...] = field(default=())

    @property
    def destructive(self) -> bool:  # type: ignore[override]
        return any(op.destructive for op in self.changes)

    def describe(self) -> str:
        inner = "; ".join(op.describe() for op in self.changes)
        return f"rebuild table {self.new.name} ({inner})"
