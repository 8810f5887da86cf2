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

from dbkeeper.contract.dialect import AdminSession, Session, SessionOpener, install_session_opener, open_session

__all__ = ["AdminSession", "Session", "SessionOpener", "install_session_opener", "open_session"]
