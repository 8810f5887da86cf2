"""Per-invocation state kept on the root click context: open connections and known secrets.

Every connection a command opens is recorded here, and the root context
closes them all when it is torn down (``ctx.call_on_close``), which click
does on success, on error and on Ctrl-C alike. Secrets seen while resolving
``--db`` are recorded too, so the error printer can redact them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection


@dataclass
class CliState:
    """Connections opened and secrets seen during one ``dbkeeper`` invocation."""

    connections: list[DatabaseConnection] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    _close_scheduled: bool = field(default=False, repr=False)

    def track(self, connection: DatabaseConnection) -> DatabaseConnection:
        """Remember ``connection`` so it is closed when the command ends."""
        self.connections.append(connection)
        self.add_secret(connection.url.password)
        return connection

    def add_secret(self, secret: str | None) -> None:
        """Remember a secret (raw and percent-decoded) for redaction of error output."""
        if secret:
            from urllib.parse import unquote

            self.secrets.add(secret)
            self.secrets.add(unquote(secret))

    def add_secrets_from_raw_url(self, text: str | None) -> None:
        """Remember the password of a URL-like string even when it does not parse.

        ``--db postgresql//user:pw@host/db`` (a typo) is not a URL, so nothing
        would mask its password in "unknown connection name ..." errors.
        """
        if not text or "@" not in text:
            return
        credentials = text.rsplit("@", 1)[0]
        credentials = credentials.split("//", 1)[-1]
        if ":" in credentials:
            self.add_secret(credentials.split(":", 1)[1])

    def close(self) -> None:
        """Close every tracked connection, newest first; a failure to close is logged, not raised."""
        for connection in reversed(self.connections):
            try:
                connection.disconnect()
            except Exception as exc:  # closing must go on for the other connections
                import logging

                logging.getLogger("dbkeeper").warning("closing %s failed: %s", connection.name, exc)


def get_state(ctx: click.Context) -> CliState:
    """The invocation's :class:`CliState`, scheduled to close with the root context.

    Created on first use unless the caller passed one as the context object
    (``CliRunner().invoke(cli, args, obj=CliState())`` in tests).
    """
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    state: CliState = root.obj
    if not state._close_scheduled:
        state._close_scheduled = True
        root.call_on_close(state.close)
    return state
