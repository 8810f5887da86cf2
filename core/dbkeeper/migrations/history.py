"""The history table: one row per migration ever applied to this database.

The schema is portable (``VARCHAR``, ``INTEGER``, ``DOUBLE PRECISION``,
``TEXT``; timestamps as ISO-8601 UTC text, which sorts correctly and reads
back identically through every driver). Rows are read in one query, without
the bulky ``rollback_sql`` column, into a dict keyed by id: validating 10,000
applied migrations against 10,000 files is a hash join in memory.

Columns: ``id``, ``name``, ``checksum``, ``status`` (``applied``, ``failed``,
``rolled_back``, ``running``), ``direction`` of the last operation (``up``,
``down``), ``run_mode`` (``transaction``, ``statements``, ``baseline``),
``applied_order`` (position in the history, for ``down``), ``applied_at``,
``execution_time`` (seconds), ``statements_executed``, ``statements_total``,
``failed_statement``, ``current_statement`` (a non-transactional statement
that had started when the run stopped), ``applied_by``/``applied_host``/
``applied_pid`` (who ran it), ``rollback_sql`` as applied,
``error_message`` of a failed run, and ``audit``, a JSON list of recorded
overrides (baseline, accepted checksums, repairs).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from dbkeeper.migrations.model import utcnow

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.result import QueryResult

DEFAULT_TABLE = "dbkeeper_migrations"

RUNNING = "running"
MODE_TRANSACTION = "transaction"
MODE_STATEMENTS = "statements"
MODE_BASELINE = "baseline"


class Executes(Protocol):
    """Anything with ``execute(sql, params)``: a connection, or a transaction on it."""

    def execute(self, query: str, params: Any = None) -> QueryResult: ...


@dataclass(slots=True)
class HistoryRow:
    """One history row (``rollback_sql`` and ``audit`` are read on demand only)."""

    id: str
    name: str
    checksum: str
    status: str
    direction: str = "up"
    run_mode: str = MODE_TRANSACTION
    applied_order: int = 0
    applied_at: str | None = None
    execution_time: float | None = None
    statements_executed: int = 0
    statements_total: int = 0
    failed_statement: int | None = None
    current_statement: int | None = None
    applied_by: str | None = None
    applied_host: str | None = None
    applied_pid: int | None = None
    error_message: str | None = None

    @property
    def applied_datetime(self) -> datetime | None:
        """``applied_at`` parsed back into an aware datetime."""
        return datetime.fromisoformat(self.applied_at) if self.applied_at else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_READ_COLUMNS = [f.name for f in fields(HistoryRow)]


@dataclass(frozen=True)
class Operator:
    """Who runs the migrations: OS user, host name and process id (recorded on every row)."""

    user: str
    host: str
    pid: int

    @classmethod
    def current(cls) -> Operator:
        """The user, host and pid of this process."""
        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
        return cls(user=user, host=socket.gethostname(), pid=os.getpid())

    def describe(self) -> str:
        """``user@host (pid N)``."""
        return f"{self.user}@{self.host} (pid {self.pid})"


def now_text() -> str:
    """The current UTC time as the history table stores it."""
    return utcnow().isoformat(timespec="microseconds")


class HistoryTable:
    """Reads and writes the history table through a :class:`DatabaseConnection`.

    ``schema`` pins the table (see ``Dialect.current_schema``); with ``None``
    the name is left unqualified.
    """

    def __init__(self, connection: DatabaseConnection, table: str = DEFAULT_TABLE, schema: str | None = None) -> None:
        self.connection = connection
        self.table = table
        self.schema = schema
        dialect = connection.dialect
        self.qualified = dialect.qualify((schema, table) if schema else table)
        self.present: bool | None = None

    def exists(self) -> bool:
        """True when the table is there (nothing is created)."""
        self.present = self.connection.dialect.migration_table_exists(self.connection, self.table, self.schema)
        return self.present

    def ensure(self) -> None:
        """Create the table unless it is known to exist: called right before the first write of a run."""
        if not self.present:
            self.create()
            self.present = True

    def create(self) -> None:
        """Create the table if it is missing (call it while holding the migration lock)."""
        self.connection.execute(
            f"CREATE TABLE IF NOT EXISTS {self.qualified} ("
            "id VARCHAR(255) NOT NULL PRIMARY KEY, "
            "name VARCHAR(255) NOT NULL, "
            "checksum VARCHAR(64) NOT NULL, "
            "status VARCHAR(16) NOT NULL, "
            "direction VARCHAR(8) NOT NULL, "
            "run_mode VARCHAR(16) NOT NULL, "
            "applied_order INTEGER NOT NULL, "
            "applied_at VARCHAR(40), "
            "execution_time DOUBLE PRECISION, "
            "statements_executed INTEGER NOT NULL, "
            "statements_total INTEGER NOT NULL, "
            "failed_statement INTEGER, "
            "current_statement INTEGER, "
            "applied_by VARCHAR(255), "
            "applied_host VARCHAR(255), "
            "applied_pid INTEGER, "
            "rollback_sql TEXT, "
            "error_message TEXT, "
            "audit TEXT)"
        )

    def read(self) -> dict[str, HistoryRow]:
        """Every row, keyed by id, in one query."""
        packed = self.connection.dialect.packed_row_sql(_READ_COLUMNS)
        if packed is not None:  # one JSON array per row: see Dialect.packed_row_sql
            result = self.connection.execute(f"SELECT {packed} AS r FROM {self.qualified}")
            loads = json.loads
            rows = [HistoryRow(*loads(raw["r"])) for raw in result.rows]
            return {row.id: row for row in rows}
        result = self.connection.execute(f"SELECT {', '.join(_READ_COLUMNS)} FROM {self.qualified}")
        # every driver returns str/int/float/None for these column types: no per-value conversion needed
        return {raw["id"]: HistoryRow(**raw) for raw in result.rows}

    def read_extra(self, ident: str) -> tuple[str | None, list[dict[str, Any]]]:
        """``rollback_sql`` and the audit list of one row."""
        row = self.connection.execute(f"SELECT rollback_sql, audit FROM {self.qualified} WHERE id = ?",
                                      (ident,)).first()
        if row is None:
            return None, []
        return row["rollback_sql"], _audit_list(row["audit"])

    # -- writes ----------------------------------------------------------------------------
    def insert(self, executor: Executes, values: Mapping[str, Any]) -> None:
        """Insert a row with ``values`` (column -> value)."""
        columns = list(values)
        marks = ", ".join("?" for _ in columns)
        executor.execute(f"INSERT INTO {self.qualified} ({', '.join(columns)}) VALUES ({marks})",
                         tuple(values[c] for c in columns))

    def update(self, executor: Executes, ident: str, values: Mapping[str, Any]) -> None:
        """Update the row ``ident`` with ``values``."""
        columns = list(values)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        executor.execute(f"UPDATE {self.qualified} SET {assignments} WHERE id = ?",
                         (*(values[c] for c in columns), ident))

    def render_upsert(self, ident: str, values: Mapping[str, Any], *, exists: bool,
                      literal: Callable[[Any], str]) -> str:
        """The INSERT or UPDATE of :meth:`upsert` as one statement with inlined ``literal`` values.

        For dialects that run a migration and its history row in one
        round trip (``Dialect.atomic_script``).
        """
        if exists:
            assignments = ", ".join(f"{c} = {literal(v)}" for c, v in values.items())
            return f"UPDATE {self.qualified} SET {assignments} WHERE id = {literal(ident)}"
        row = {"id": ident, **values}
        return (f"INSERT INTO {self.qualified} ({', '.join(row)}) "
                f"VALUES ({', '.join(literal(v) for v in row.values())})")

    def upsert(self, executor: Executes, ident: str, values: Mapping[str, Any], *, exists: bool) -> None:
        """Insert or update; the caller knows which (it holds the lock and the snapshot)."""
        if exists:
            self.update(executor, ident, values)
        else:
            self.insert(executor, {"id": ident, **values})

    def append_audit(self, executor: Executes, ident: str, event: Mapping[str, Any]) -> None:
        """Append ``event`` to the row's audit list (a recorded override)."""
        _, audit = self.read_extra(ident)
        audit.append(dict(event))
        self.update(executor, ident, {"audit": json.dumps(audit, sort_keys=True)})

    def delete(self, executor: Executes, ident: str) -> None:
        """Remove the row ``ident``."""
        executor.execute(f"DELETE FROM {self.qualified} WHERE id = ?", (ident,))


def _audit_list(text: Any) -> list[dict[str, Any]]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return [{"action": "unparseable", "raw": str(text)}]
    return value if isinstance(value, list) else [value]
