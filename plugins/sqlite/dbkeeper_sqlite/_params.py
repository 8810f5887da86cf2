"""Refuse NaN parameters: SQLite stores a bound NaN as NULL, silently.

``sqlite3`` binds ``float('nan')`` as a REAL NaN, which SQLite turns into
NULL on the way in; the value is lost and no error is raised. Every
connection the dialect opens uses :class:`CheckedConnection`, whose cursors
look at the parameters before the driver binds them and raise
:class:`NaNParameterError` (a ``sqlite3.DataError``, so dbkeeper reports it as
a :class:`~dbkeeper.errors.QueryError` and the statement never runs).

The check is cheap on the hot path: ``float in map(type, params)`` runs in C
and looks at each value once; only a statement with float parameters pays
for the NaN test.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any


class NaNParameterError(sqlite3.DataError):
    """A NaN was about to be bound: SQLite would have stored NULL instead."""


def check_parameters(params: Any) -> None:
    """Raise :class:`NaNParameterError` naming the first NaN in ``params`` (a sequence or a mapping)."""
    kind = type(params)
    if kind is tuple or kind is list:  # the hot path: no ABC checks, one C-level scan
        if float not in map(type, params):
            return
        _find_nan(params, [])
    elif params is None:
        return
    elif isinstance(params, Mapping):
        values = list(params.values())
        if float in map(type, values):
            _find_nan(values, list(params))
    else:
        values = list(params)
        if float in map(type, values):
            _find_nan(values, [])


def _find_nan(values: Any, names: list[Any]) -> None:
    for index, value in enumerate(values):
        if type(value) is float and math.isnan(value):
            where = f":{names[index]}" if names else f"{index + 1}"
            raise NaNParameterError(f"parameter {where} is NaN, which SQLite would store as NULL; bind None for "
                                    "NULL, or store NaN as text")


_execute = sqlite3.Cursor.execute


class CheckedCursor(sqlite3.Cursor):
    """A cursor that refuses NaN parameters (see the module docstring)."""

    def execute(self, sql: str, parameters: Any = (), /) -> CheckedCursor:
        # Inlined fast path (a call to check_parameters and super() cost more than the check itself).
        if parameters.__class__ is not tuple or float in map(type, parameters):
            check_parameters(parameters)
        return _execute(self, sql, parameters)  # type: ignore[return-value]

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> CheckedCursor:
        rows = seq_of_parameters if isinstance(seq_of_parameters, list | tuple) else list(seq_of_parameters)
        for row in rows:
            check_parameters(row)
        super().executemany(sql, rows)
        return self


class CheckedConnection(sqlite3.Connection):
    """A ``sqlite3`` connection whose cursors (and shortcut ``execute``) refuse NaN parameters."""

    def cursor(self, factory: Any = CheckedCursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:  # type: ignore[override]
        return self.cursor().executemany(sql, parameters)
