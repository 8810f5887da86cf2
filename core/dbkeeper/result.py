"""``QueryResult``: what one statement returned.

Kept as a slotted class built once per statement: it sits on the hot path of
``DatabaseManager.execute``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class QueryResult:
    """Rows (as dicts), column names, counts and timing of one statement.

    ``row_count`` is the number of rows returned; ``rows_affected`` is the
    driver's count of rows changed (``-1`` when it does not know);
    ``lastrowid`` is set where the driver reports one (SQLite, MySQL).
    ``execution_time`` is in seconds.
    """

    __slots__ = ("columns", "execution_time", "lastrowid", "rows", "rows_affected")

    def __init__(self, rows: list[dict[str, Any]], columns: list[str], rows_affected: int,
                 lastrowid: int | None, execution_time: float) -> None:
        self.rows = rows
        self.columns = columns
        self.rows_affected = rows_affected
        self.lastrowid = lastrowid
        self.execution_time = execution_time

    @property
    def row_count(self) -> int:
        """Number of rows returned."""
        return len(self.rows)

    def scalar(self) -> Any:
        """First column of the first row, or ``None`` when there are no rows."""
        if not self.rows:
            return None
        return next(iter(self.rows[0].values()), None)

    def first(self) -> dict[str, Any] | None:
        """The first row, or ``None``."""
        return self.rows[0] if self.rows else None

    def tuples(self) -> list[tuple[Any, ...]]:
        """Rows as tuples in column order."""
        return [tuple(row[c] for c in self.columns) for row in self.rows]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (rows included)."""
        return {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": self.row_count,
            "rows_affected": self.rows_affected,
            "lastrowid": self.lastrowid,
            "execution_time": self.execution_time,
        }

    def __repr__(self) -> str:
        return (f"QueryResult(row_count={self.row_count}, rows_affected={self.rows_affected}, "
                f"columns={self.columns!r}, execution_time={self.execution_time:.6f})")
