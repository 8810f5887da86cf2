"""The connected database as the contract sees it: the ``Session`` protocol, and who opens one.

``Dialect`` methods receive the connected database (``dump``, ``restore``,
``introspect``, ``explain``, ``collect_metrics``, ``migration_lock``, ...).
The shipped implementation is the engine's
:class:`dbkeeper.engine.connection.DatabaseConnection`, but the contract sits
below the engine, so it names what it relies on as a protocol instead of
importing the engine (that import closed the core's last large import circle).
A dialect may use exactly these members; the engine's class has more (pool,
transactions, CRUD helpers) for applications.

Where the contract must open a connection itself (``Dialect.scratch_target``
makes a scratch database through an admin connection), it asks
:func:`open_session`, which the engine installs when it is imported
(:func:`install_session_opener`): dependency inversion instead of an upward
import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from dbkeeper.urls import DatabaseURL

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.result import QueryResult

__all__ = ["AdminSession", "Session", "install_session_opener", "open_session"]


class Session(Protocol):
    """What a dialect may use of the connected database it is given."""

    @property
    def name(self) -> str:
        """The connection's name (``dbkeeper.toml``'s, or derived from the URL)."""

    @property
    def url(self) -> DatabaseURL:
        """Where it is connected (render it with ``render()``: the password stays masked)."""

    @property
    def dialect(self) -> Dialect:
        """The dialect serving it."""

    @property
    def password(self) -> str | None:
        """A password given beside the URL (the seed API's form); a secret: never print or log it."""

    @property
    def connection_timeout(self) -> float:
        """Seconds each connection attempt may take (for sessions the dialect opens beside it)."""

    @property
    def max_retries(self) -> int:
        """How often a failed connection attempt is retried."""

    def execute(self, query: str, params: Any = None) -> QueryResult:
        """Run one statement (joins the calling thread's transaction, if any)."""

    def sqlalchemy_engine(self) -> Engine:
        """A SQLAlchemy engine on the same database (for reflection)."""

    def __enter__(self) -> Session:
        """Connected for the block (already connected: stays so), for hooks that get it unconnected."""

    def __exit__(self, *exc: object) -> None:
        """Disconnect what ``__enter__`` connected."""


class AdminSession(Session, Protocol):
    """A session the contract opened itself and must close."""

    def disconnect(self) -> None:
        """Close it."""


SessionOpener = Callable[[DatabaseURL], AdminSession]
_opener: list[SessionOpener] = []


def install_session_opener(opener: SessionOpener) -> None:
    """Called once by :mod:`dbkeeper.engine.connection`: how to open a one-connection admin session."""
    _opener[:] = [opener]


def open_session(url: DatabaseURL) -> AdminSession:
    """A connected one-connection session on ``url`` (the engine's ``DatabaseConnection``)."""
    if not _opener:
        from dbkeeper.errors import ConfigurationError

        raise ConfigurationError("no engine is loaded to open a connection with: import dbkeeper.engine.connection "
                                 "(or dbkeeper) first")
    return _opener[0](url)
