"""One exception hierarchy for everything dbkeeper raises on purpose.

Callers catch ``DbKeeperError`` (or a narrower subclass) and never need to know
which driver sits underneath: driver exceptions are wrapped, their text passed
through :func:`dbkeeper.redaction.redact` so a password cannot leak through an
error message, and the original kept as ``__cause__`` for debugging.
"""

from __future__ import annotations


class DbKeeperError(Exception):
    """Base class of every error dbkeeper raises deliberately."""


class ConfigurationError(DbKeeperError):
    """A URL, config file, environment variable or argument is malformed or missing."""


class UnsupportedDatabaseError(ConfigurationError):
    """No installed dialect handles the requested URL scheme or database type."""


class PluginError(DbKeeperError):
    """A plugin failed to load or broke the plugin contract."""


class UnsupportedOperationError(DbKeeperError):
    """The dialect in use does not provide the requested operation."""


class ConnectionError(DbKeeperError):  # noqa: A001 - deliberate, namespaced by the package
    """The database could not be reached, or a connection was lost."""


class ConnectionLostError(ConnectionError):
    """An established connection died (server restart, killed backend, network)."""


class PoolTimeoutError(ConnectionError):
    """Every pooled connection stayed checked out longer than the checkout timeout."""


class QueryError(DbKeeperError):
    """The database rejected a statement.

    ``sqlstate`` carries the five-character SQLSTATE (or the driver's numeric
    code as text) when the driver reports one.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class IntegrityError(QueryError):
    """A constraint (unique, foreign key, not null, check) was violated."""


class ClosedError(DbKeeperError):
    """An object was used after ``close()``/``disconnect()``."""


#: The seed API's name for the base of every error (``from codomyrmex.exceptions import CodomyrmexError``):
#: the same class as :class:`DbKeeperError`, so a ported ``except CodomyrmexError:`` catches everything
#: dbkeeper raises on purpose, and ``except DbKeeperError:`` catches what ported code raises with it.
CodomyrmexError = DbKeeperError
