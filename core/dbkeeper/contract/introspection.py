"""What introspection reports about tables, independent of the dialect.

The introspect hook returns these plain data classes; ``get_table_info``
turns them into dicts for JSON and the CLI. They are deliberately small: the
full schema model (views, enums, sequences, checks) builds on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One column as the database reports it."""

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    autoincrement: bool = False
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index: its name, columns in order and whether it is unique."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True, slots=True)
class ForeignKeyInfo:
    """One foreign key constraint."""

    name: str | None
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A table with its columns, keys and indexes."""

    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexInfo, ...] = ()
    foreign_keys: tuple[ForeignKeyInfo, ...] = ()
    schema: str | None = None
    comment: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> ColumnInfo | None:
        """Return the column called ``name`` or ``None``."""
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return asdict(self)
