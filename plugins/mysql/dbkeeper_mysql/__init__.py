"""dbkeeper's MySQL and MariaDB dialect (PyMySQL).

Importing this module is cheap: it defines the dialect class and nothing
else; PyMySQL is imported the first time a connection is opened. The
``dbkeeper`` entry point points here; the plugin registers
:class:`~dbkeeper_mysql.dialect.MySQLDialect` for ``mysql://`` and
``mariadb://`` URLs.
"""

from __future__ import annotations

from collections.abc import Callable

import dbkeeper
from dbkeeper.dialect import Dialect
from dbkeeper_mysql._version import __version__
from dbkeeper_mysql.dialect import MySQLDialect

__all__ = ["MySQLDialect", "__version__"]


@dbkeeper.hookimpl
def dbkeeper_register_dialects(register: Callable[[type[Dialect]], None]) -> None:
    register(MySQLDialect)
