"""Every dbkeeper hook, declared once; each docstring is the hook's reference.

The plugin contract is registration hooks plus the :class:`~dbkeeper.contract.dialect.Dialect`
class: a plugin says what it provides (dialects, commands, advisor rules,
lifecycle adapters) and the core decides when to use it. Operations (connect,
introspect, dump, restore, render DDL, metrics, explain, migration lock) are
``Dialect`` methods the core calls directly. The one override point a third
party needs without owning a dialect is :func:`dbkeeper_connect`: how a pooled
connection is opened (short-lived credentials, session set-up).

Plugins implement hooks with ``@dbkeeper.hookimpl`` (:data:`hookimpl`, the only
marker) and receive arguments by keyword, so an implementation may accept any
subset of the arguments listed here; hooks can gain arguments later without
breaking existing plugins.

``docs/hooks.md`` is generated from these docstrings by
``python -m dbkeeper.contract._hookdoc --write``; a test asks the live plugin manager
for its hooks and keeps the page identical to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from dbkeeper.contract.dialect import DBAPIConnection, Dialect
    from dbkeeper.urls import DatabaseURL

#: Marker for hook specifications (used only here).
hookspec = pluggy.HookspecMarker("dbkeeper")

#: Marker for plugin hook implementations: ``@dbkeeper.hookimpl``. Defined once, here.
hookimpl = pluggy.HookimplMarker("dbkeeper")


@hookspec
def dbkeeper_register_dialects(register: Callable[[type[Dialect]], None]) -> None:
    """Register the dialects a plugin provides.

    Called once per plugin when plugins load. Call ``register(DialectClass)``
    for each ``Dialect`` subclass. Registering a name or URL scheme that
    another plugin already registered raises ``PluginError``, which marks
    this plugin as failed (the others keep working). To replace a shipped
    dialect, disable its plugin (``DBKEEPER_DISABLE_PLUGINS=postgres``) and
    register a subclass under the same name. Returns nothing.
    """


@hookspec
def dbkeeper_register_commands(cli: click.Group) -> None:
    """Add commands to the ``dbkeeper`` command line.

    ``cli`` is the top-level ``click.Group``; call ``cli.add_command(...)``.
    Called when the CLI first lists or resolves commands, for every plugin;
    a plugin whose implementation raises is reported by ``dbkeeper plugins``
    and its commands are missing, while the rest of the CLI works. Returns
    nothing.
    """


@hookspec
def dbkeeper_register_advisor_rules(register: Callable[[type[Any]], None]) -> None:
    """Register the advisor rules of a plugin's dialects.

    Call ``register(RulesClass)`` with a subclass of
    ``dbkeeper.monitoring.rules.AdvisorRules`` whose ``dialect_name``
    attribute names the dialect it serves. The advisor runs every check of
    ``dbkeeper.monitoring.advisor.CHECKS`` in report order through the
    dialect's class, or through ``AdvisorRules`` itself (the generic rules)
    for a dialect that registered none; a subclass overrides the checks
    and the fix statements its database does differently. A second class
    for the same dialect raises ``PluginError`` and marks this plugin as
    failed. Called once per plugin, the first time advice is asked for.
    Returns nothing.
    """


@hookspec
def dbkeeper_register_lifecycle_adapters(register: Callable[[type[Any]], None]) -> None:
    """Register how the versioned async lifecycle talks to a plugin's dialects.

    Call ``register(AdapterClass)`` with a subclass of
    ``dbkeeper.lifecycle.connection.LifecycleConnection`` whose
    ``dialect_name`` attribute names the dialect it serves and whose
    ``open(raw, log, dialect)`` coroutine wraps the connection
    ``Dialect.connect_async`` returned. ``VersionedDatabase`` refuses a dialect with no adapter,
    naming it. A second adapter for the same dialect raises ``PluginError``
    and marks this plugin as failed. Called once per plugin, the first time
    a versioned database opens. Returns nothing.
    """


@hookspec(firstresult=True)
def dbkeeper_connect(dialect: Dialect, url: DatabaseURL, options: Mapping[str, Any]) -> DBAPIConnection | None:
    """Open one DBAPI connection for the connection pool: the contract's one override point.

    ``dialect`` is the registered dialect serving ``url``; ``options`` holds
    ``timeout`` (seconds or ``None``) and ``autocommit`` (bool). Return a
    DBAPI 2.0 connection, or ``None`` for dialects you leave alone. A plugin
    implements it to change how connections to a dialect it does not own
    are made: short-lived credentials (cloud IAM tokens), session settings,
    SQLite functions. The first non-``None`` result wins; when every
    implementation returns ``None`` the core calls
    ``dialect.connect(url, timeout=..., autocommit=...)``. Called whenever
    the pool needs a new connection, never per statement.
    """
