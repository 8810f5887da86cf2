"""dbkeeper's MySQL and MariaDB dialect (PyMySQL).

Importing this module is cheap: it defines the dialect class and nothing
else; PyMySQL is imported the first time a connection is opened. The
``dbkeeper`` entry point points here; the plugin registers
:class:`~dbkeeper_mysql.dialect.MySQLDialect` for ``mysql://`` and
``mariadb://`` URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dbkeeper
from dbkeeper.contract.dialect import Dialect
from dbkeeper_mysql._version import __version__

if TYPE_CHECKING:
    from dbkeeper_mysql.dialect import MySQLDialect

__all__ = ["MySQLDialect", "__version__"]


@dbkeeper.hookimpl
def dbkeeper_register_dialects(register: Callable[[type[Dialect]], None]) -> None:
    from dbkeeper_mysql.dialect import MySQLDialect

    register(MySQLDialect)


@dbkeeper.hookimpl
def dbkeeper_register_advisor_rules(register: Callable[[type[Any]], None]) -> None:
    from dbkeeper_mysql.advisor import MySQLAdvisorRules

    register(MySQLAdvisorRules)


def __getattr__(name: str) -> Any:
    # The dialect module is imported when a dialect is needed, not when the
    # plugin is loaded: ``dbkeeper --help`` loads plugins only for their commands.
    if name == "MySQLDialect":
        from dbkeeper_mysql.dialect import MySQLDialect

        return MySQLDialect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
