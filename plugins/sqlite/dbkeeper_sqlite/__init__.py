"""dbkeeper's SQLite dialect (stdlib ``sqlite3``): the embedded default.

Importing this module is cheap: the dialect class is imported when the
plugin registers it, not when the plugin is loaded. The
``dbkeeper`` entry point points here; the plugin registers
:class:`~dbkeeper_sqlite.dialect.SQLiteDialect`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dbkeeper
from dbkeeper.contract.dialect import Dialect

if TYPE_CHECKING:
    from dbkeeper_sqlite.dialect import SQLiteDialect

__all__ = ["SQLiteDialect"]


@dbkeeper.hookimpl
def dbkeeper_register_dialects(register: Callable[[type[Dialect]], None]) -> None:
    from dbkeeper_sqlite.dialect import SQLiteDialect

    register(SQLiteDialect)


@dbkeeper.hookimpl
def dbkeeper_register_advisor_rules(register: Callable[[type[Any]], None]) -> None:
    from dbkeeper_sqlite.advisor import SQLiteAdvisorRules

    register(SQLiteAdvisorRules)


@dbkeeper.hookimpl
def dbkeeper_register_lifecycle_adapters(register: Callable[[type[Any]], None]) -> None:
    from dbkeeper_sqlite.lifecycle import AiosqliteConnection

    register(AiosqliteConnection)


def __getattr__(name: str) -> Any:
    # The dialect module is imported when a dialect is needed, not when the
    # plugin is loaded: ``dbkeeper --help`` loads plugins only for their commands.
    if name == "SQLiteDialect":
        from dbkeeper_sqlite.dialect import SQLiteDialect

        return SQLiteDialect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
