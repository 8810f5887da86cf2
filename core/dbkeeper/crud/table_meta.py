"""What the CRUD helpers know about a table: its real columns, key and quoted names.

Every identifier a CRUD call receives is checked against the table as the
database describes it (the introspect hook, so a plugin's own introspection
is used), then quoted by the dialect. The description is cached per
connection: the hot path pays a dict lookup. When a call names a column the
cached description lacks, the table is described again once before the call
is refused, so a column added since is found; a table that vanished is
noticed by the database itself and its description dropped.

Names are matched exactly (``"Users"`` is not ``"users"``); a refusal lists
the near misses.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dbkeeper.errors import ConfigurationError, DbKeeperError

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.introspection import TableInfo


class DescribedSession(Protocol):
    """What table metadata needs of a connection: its name, dialect and introspection.

    :class:`dbkeeper.engine.connection.DatabaseConnection` is the one shipped;
    a protocol instead of an import keeps the CRUD tier below the engine.
    """

    @property
    def name(self) -> str: ...

    @property
    def dialect(self) -> Dialect: ...

    def get_tables(self) -> list[str]: ...

    def introspect(self, tables: Sequence[str] | None = None) -> list[TableInfo]: ...

__all__ = ["TableMeta", "TableMetaCache", "UnknownColumnError", "UnknownTableError", "cache_tag"]


class UnknownTableError(ConfigurationError):
    """A CRUD call named a table the database does not have (refused before any statement ran)."""


class UnknownColumnError(ConfigurationError):
    """A CRUD call named a column its table does not have (refused before any statement ran)."""


def cache_tag(name: str) -> str:
    """The read-cache tag of a table: case-folded, so unquoted and quoted spellings meet."""
    return name.casefold()


@dataclass(frozen=True, slots=True)
class TableMeta:
    """A table's columns, primary key and their quoted forms, ready for building SQL.

    ``quoted`` maps each column to its quoted identifier, already escaped for
    the driver's paramstyle (``%`` doubled for ``pyformat`` drivers).
    """

    name: str
    qualified: str
    columns: tuple[str, ...]
    quoted: Mapping[str, str]
    primary_key: tuple[str, ...]
    integer_key: bool
    references: tuple[str, ...]

    def has(self, column: str) -> bool:
        """True when ``column`` is one of the table's columns."""
        return column in self.quoted


def escape_for_driver(quoted: str, pyformat: bool) -> str:
    """Double ``%`` in a quoted identifier for ``pyformat`` drivers, which read ``%`` as a placeholder."""
    return quoted.replace("%", "%%") if pyformat else quoted


class TableMetaCache:
    """Table descriptions of one connection, described on first use and kept."""

    def __init__(self, connection: DescribedSession) -> None:
        self._connection = connection
        self._tables: dict[str, TableMeta] = {}
        self._tags: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def get(self, table: str) -> TableMeta:
        """The description of ``table``; :class:`UnknownTableError` when there is no such table."""
        meta = self._tables.get(table)
        if meta is None:
            meta = self._describe(table)
        return meta

    def forget(self, table: str | None = None) -> None:
        """Drop the description of ``table`` (all tables when None); the next use describes it again."""
        with self._lock:
            if table is None:
                self._tables.clear()
            else:
                self._tables.pop(table, None)
            self._tags.clear()

    def require(self, table: str, columns: Iterable[str], *, what: str = "column") -> TableMeta:
        """The description of ``table`` after checking that every name in ``columns`` is a column.

        A name the cached description lacks triggers one fresh description
        (the column may have been added since) before the call is refused.
        """
        meta = self.get(table)
        missing = [c for c in columns if not (isinstance(c, str) and c in meta.quoted)]
        if not missing:
            return meta
        self.forget(table)
        meta = self.get(table)
        for name in missing:
            if not isinstance(name, str):
                raise UnknownColumnError(f"{what} names must be strings; got {name!r} for table {table!r}")
            if name not in meta.quoted:
                near = difflib.get_close_matches(name, meta.columns, n=3)
                hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
                raise UnknownColumnError(
                    f"table {table!r} has no {what} {name!r}{hint} (columns: {', '.join(meta.columns)})"
                )
        return meta

    def dependency_tags(self, table: str) -> frozenset[str]:
        """Cache tags a read of ``table`` depends on: the table and every table it references, transitively.

        A write to a referenced table can change ``table`` through a
        cascading foreign key, so cached reads of ``table`` are tagged with
        the referenced tables too.
        """
        tags = self._tags.get(table)
        if tags is not None:
            return tags
        seen: set[str] = set()
        pending = [table]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            try:
                pending.extend(self.get(name).references)
            except DbKeeperError:
                continue  # a referenced table we cannot describe: its own tag is still recorded
        tags = frozenset(cache_tag(name) for name in seen)
        self._tags[table] = tags
        return tags

    # -- describing -----------------------------------------------------------------
    def _describe(self, table: str) -> TableMeta:
        if not isinstance(table, str) or not table:
            raise UnknownTableError(
                f"table must be a non-empty string, got {table!r}; schema-qualified tables are not supported "
                "by the CRUD helpers (connect to the schema's database, or use execute())"
            )
        connection = self._connection
        info: TableInfo | None = None
        failure: DbKeeperError | None = None
        try:
            found = connection.introspect([table])
            info = found[0] if found else None
        except DbKeeperError as exc:
            failure = exc
        if info is None or not info.columns or info.name != table:
            try:
                existing = connection.get_tables()
            except DbKeeperError:  # not connected, or the database is unreachable: say that, not "no table"
                if failure is not None:
                    raise failure from None
                raise
            if failure is not None and table in existing:
                raise failure
            near = difflib.get_close_matches(table, existing, n=3)
            hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
            raise UnknownTableError(
                f"no table {table!r} in database {connection.name!r}{hint} "
                f"(tables: {', '.join(existing) or 'none'})"
            )
        meta = _meta_from_info(connection, info)
        with self._lock:
            self._tables[table] = meta
        return meta


def _meta_from_info(connection: DescribedSession, info: TableInfo) -> TableMeta:
    dialect = connection.dialect
    pyformat = dialect.paramstyle == "pyformat"
    quoted = {c.name: escape_for_driver(dialect.quote_identifier(c.name), pyformat) for c in info.columns}
    key = tuple(info.primary_key)
    integer_key = False
    if len(key) == 1:
        column = info.column(key[0])
        integer_key = column is not None and "INT" in column.type.upper()
    return TableMeta(
        name=info.name,
        qualified=escape_for_driver(dialect.qualify(info.name), pyformat),
        columns=tuple(c.name for c in info.columns),
        quoted=quoted,
        primary_key=key,
        integer_key=integer_key,
        references=tuple(sorted({fk.referred_table for fk in info.foreign_keys})),
    )
