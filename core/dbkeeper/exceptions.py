"""Where ported code finds the seed API's base error: ``from dbkeeper.exceptions import CodomyrmexError``.

The seed documents import it from a package's ``exceptions`` module; this
module keeps that import line working (with the package name changed) and
re-exports dbkeeper's whole hierarchy, so nothing here is a second class:
``CodomyrmexError`` *is* :class:`dbkeeper.errors.DbKeeperError`.
"""

from __future__ import annotations

from dbkeeper.errors import (
    ClosedError,
    CodomyrmexError,
    ConfigurationError,
    ConnectionError,
    ConnectionLostError,
    DbKeeperError,
    IntegrityError,
    PluginError,
    PoolTimeoutError,
    QueryError,
    UnsupportedDatabaseError,
    UnsupportedOperationError,
)

__all__ = [
    "ClosedError",
    "CodomyrmexError",
    "ConfigurationError",
    "ConnectionError",
    "ConnectionLostError",
    "DbKeeperError",
    "IntegrityError",
    "PluginError",
    "PoolTimeoutError",
    "QueryError",
    "UnsupportedDatabaseError",
    "UnsupportedOperationError",
]
