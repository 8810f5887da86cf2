"""``QueryResult``: what one statement returned.

Kept as a slotted class built once per statement: it sits on the hot path of
``DatabaseManager.execute``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, ClassVar, SupportsIndex, overload


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

    def records(self) -> list[Row]:
        """Rows as :class:`Row`: tuples in column order that also answer by column name.

        What ``cursor.fetchall()``-style code expects (``rows[0][0]``,
        ``a, b = row``) without losing ``row["name"]``. Built on request, so
        :meth:`DatabaseConnection.execute` never pays for it.
        """
        columns = self.columns
        if not self.rows:
            return []
        kind = row_type(tuple(columns))
        return [kind(tuple(row[c] for c in columns)) for row in self.rows]

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


class Row(tuple[Any, ...]):
    """One row as a tuple (by position, unpacking, ``==`` a tuple) that also answers by column name.

    It serves both kinds of ported code: DBAPI-style code indexes
    ``row[0]`` and unpacks ``id, name = row`` as it did with
    ``cursor.fetchall()``; mapping-style code reads ``row["name"]``,
    ``row.get("name")``, ``row.keys()``/``items()`` and ``dict(row)``.
    Iteration yields values (it is a tuple); :meth:`as_dict` gives a real
    dict. The column names live on a class made once per column list
    (:func:`row_type`), so a row costs no more than the tuple it is.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _index: ClassVar[dict[str, int]] = {}

    @overload
    def __getitem__(self, key: SupportsIndex, /) -> Any: ...
    @overload
    def __getitem__(self, key: slice, /) -> tuple[Any, ...]: ...
    @overload
    def __getitem__(self, key: str, /) -> Any: ...

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                position = self._index[key]
            except KeyError:
                raise KeyError(key) from None
            return tuple.__getitem__(self, position)
        return tuple.__getitem__(self, key)

    def __getattr__(self, name: str) -> Any:
        index = type(self)._index
        if name in index:
            return tuple.__getitem__(self, index[name])
        raise AttributeError(f"row has no column {name!r}; columns: {', '.join(self._fields)}")

    def keys(self) -> list[str]:
        """Column names in order (also what ``dict(row)`` reads)."""
        return list(self._fields)

    def values(self) -> list[Any]:
        """Values in column order."""
        return list(self)

    def items(self) -> list[tuple[str, Any]]:
        """``(column, value)`` pairs in column order."""
        return list(zip(self._fields, self, strict=False))

    def get(self, key: str, default: Any = None) -> Any:
        """The value of column ``key``, or ``default`` when there is no such column."""
        position = self._index.get(key)
        return default if position is None else tuple.__getitem__(self, position)

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict (column name -> value)."""
        return dict(zip(self._fields, self, strict=False))

    _asdict = as_dict

    def __eq__(self, other: object) -> bool:
        """Equal to a tuple of the same values, and to a mapping of the same columns and values.

        So ``rows == [(1, "a")]`` and ``rows == [{"id": 1, "name": "a"}]``
        both hold: checks written for either document keep passing.
        """
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other)
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as (columns, values): the per-column-list class is rebuilt, not looked up by name."""
        return _rebuild_row, (self._fields, tuple(self))

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self, strict=False))
        return f"Row({body})"


@lru_cache(maxsize=512)
def row_type(columns: tuple[str, ...]) -> type[Row]:
    """The :class:`Row` class for one column list (the first of duplicate names wins by name)."""
    index: dict[str, int] = {}
    for position, name in enumerate(columns):
        index.setdefault(name, position)
    return type("Row", (Row,), {"__slots__": (), "_fields": columns, "_index": index})


def _rebuild_row(columns: tuple[str, ...], values: tuple[Any, ...]) -> Row:
    return row_type(columns)(values)
