"""The DBAPI shape dbkeeper's core relies on, around one DuckDB connection.

The core runs every statement, ``BEGIN`` and ``COMMIT`` included, through
``raw.cursor().execute(...)`` and expects all cursors of one pooled
connection to share its session. DuckDB's ``cursor()`` opens a *new*
connection (a session of its own), so ``BEGIN`` and ``COMMIT`` would run in
different sessions; :class:`DuckDBSession` hands out cursors that all run on
the one DuckDB connection it wraps. The core also expects a statement that
returns no rows to have ``description = None``: DuckDB describes DML with one
``Count`` column, which :class:`SessionCursor` turns into ``rowcount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Leading keywords of statements whose DuckDB result is a row count, not rows (unless they say RETURNING).
_DML = ("INSERT", "UPDATE", "DELETE", "MERGE")


class SessionCursor:
    """A cursor on the session's one DuckDB connection; results are fetched when the statement runs."""

    arraysize = 1000

    def __init__(self, session: DuckDBSession) -> None:
        self._session = session
        self.description: Sequence[tuple[Any, ...]] | None = None
        self.rowcount = -1
        self._rows: list[tuple[Any, ...]] = []
        self._position = 0

    def execute(self, sql: str, params: Any = None) -> SessionCursor:
        raw = self._session.raw
        result = raw.execute(sql) if params is None else raw.execute(sql, params)
        self._take(sql, result)
        return self

    def executemany(self, sql: str, seq_of_params: Sequence[Any]) -> SessionCursor:
        self._take(sql, self._session.raw.executemany(sql, list(seq_of_params)))
        return self

    def _take(self, sql: str, result: Any) -> None:
        description = result.description
        rows = result.fetchall() if description is not None else []
        words = sql.lstrip().split(None, 1)
        is_dml = bool(words) and words[0].upper() in _DML and "RETURNING" not in sql.upper()
        if is_dml and description is not None and len(description) == 1 and description[0][0] == "Count":
            self.description, self._rows = None, []
            self.rowcount = int(result.rowcount if result.rowcount is not None and result.rowcount >= 0
                                else rows[0][0])
        else:
            self.description, self._rows = description, rows
            self.rowcount = len(rows) if description is not None else -1
        self._position = 0

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._position = self._rows[self._position:], len(self._rows)
        return rows

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        end = self._position + (size or self.arraysize)
        rows, self._position = self._rows[self._position:end], min(end, len(self._rows))
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._position >= len(self._rows):
            return None
        self._position += 1
        return self._rows[self._position - 1]

    def close(self) -> None:
        self._rows = []


class DuckDBSession:
    """One DuckDB connection in the shape of a DBAPI connection whose cursors share its session."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def cursor(self) -> SessionCursor:
        return SessionCursor(self)

    def commit(self) -> None:
        """Transactions are statements on a cursor (``BEGIN``/``COMMIT``); autocommit otherwise."""

    def rollback(self) -> None:
        """See :meth:`commit`: the core rolls back with a ``ROLLBACK`` statement."""

    def close(self) -> None:
        self.raw.close()

    def __repr__(self) -> str:
        return f"<DuckDBSession {self.raw!r}>"
