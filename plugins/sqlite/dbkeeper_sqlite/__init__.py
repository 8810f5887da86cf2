"""dbkeeper's SQLite dialect (stdlib ``sqlite3``): the embedded default.

Importing this module is cheap: it only defines the dialect class. The
``dbkeeper`` entry point points here; the plugin registers
:class:`~dbkeeper_sqlite.dialect.SQLiteDialect`.
"""

from __future__ import annotations

from collections.abc import Callable

import dbkeeper
from dbkeeper.dialect import Dialect
from dbkeeper_sqlite.dialect import SQLiteDialect

__all__ = ["SQLiteDialect"]


@dbkeeper.hookimpl
def dbkeeper_register_dialects(register: Callable[[type[Dialect]], None]) -> None:
    register(SQLiteDialect)
