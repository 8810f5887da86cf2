"""dbkeeper's PostgreSQL dialect (psycopg 3).

Importing this module is cheap: it defines the dialect class and nothing
imports psycopg until a connection is opened, so ``dbkeeper --help`` does not
pay for the driver. The ``dbkeeper`` entry point points here; the plugin
registers :class:`~dbkeeper_postgres.dialect.PostgresDialect`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dbkeeper
from dbkeeper.contract.dialect import Dialect
from dbkeeper_postgres._version import __version__

if TYPE_CHECKING:
    from dbkeeper_postgres.dialect import PostgresDialect

__all__ = ["PostgresDialect", "__version__"]


@dbkeeper.hookimpl
def dbkeeper_register_dialects(register: Callable[[type[Dialect]], None]) -> None:
    from dbkeeper_postgres.dialect import PostgresDialect

    register(PostgresDialect)


@dbkeeper.hookimpl
def dbkeeper_register_advisor_rules(register: Callable[[type[Any]], None]) -> None:
    from dbkeeper_postgres.advisor import PostgresAdvisorRules

    register(PostgresAdvisorRules)


@dbkeeper.hookimpl
def dbkeeper_register_lifecycle_adapters(register: Callable[[type[Any]], None]) -> None:
    from dbkeeper_postgres.lifecycle import PsycopgConnection

    register(PsycopgConnection)


def __getattr__(name: str) -> Any:
    # The dialect module is imported when a dialect is needed, not when the
    # plugin is loaded: ``dbkeeper --help`` loads plugins only for their commands.
    if name == "PostgresDialect":
        from dbkeeper_postgres.dialect import PostgresDialect

        return PostgresDialect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
