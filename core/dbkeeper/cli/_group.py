"""The top-level ``dbkeeper`` group: lazy built-ins, plugin commands, errors and Ctrl-C.

Three jobs sit here so that every command gets them without repeating code:

* plugin commands - ``dbkeeper_register_commands`` is called once, the first
  time the group lists its commands or is asked for a name that is not a
  built-in, so ``dbkeeper query ...`` never pays for loading plugins' commands;
* errors - a :class:`~dbkeeper.errors.DbKeeperError` escaping a command is
  printed as ``error: <message>`` (secrets redacted) with exit code 1, or 2
  for configuration errors, and never as a traceback;
* Ctrl-C - exits with 130 after click has closed the context, which closes
  every connection the command opened; SIGTERM is handled the same way
  (:func:`~dbkeeper.cli._interrupt.sigterm_as_interrupt`) and exits with 143.
"""

from __future__ import annotations

from typing import Any

import click

from dbkeeper.cli._errors import EXIT_INTERRUPTED, EXIT_TERMINATED, to_cli_error
from dbkeeper.cli._interrupt import Terminated, sigterm_as_interrupt
from dbkeeper.cli._lazy import LazyGroup
from dbkeeper.cli._state import get_state
from dbkeeper.errors import DbKeeperError


class DbKeeperGroup(LazyGroup):
    """:class:`LazyGroup` plus plugin commands, error reporting and interrupt handling."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plugin_commands_loaded = False

    def load_plugin_commands(self) -> None:
        """Let plugins add their commands (once per group; later calls do nothing).

        A plugin whose hook raises is recorded as failed by the registry and
        shown by ``dbkeeper plugins``; the other commands keep working.
        """
        if self._plugin_commands_loaded:
            return
        self._plugin_commands_loaded = True
        from dbkeeper.plugins import get_registry

        try:
            get_registry().register_commands(self)
        except DbKeeperError as exc:  # DBKEEPER_STRICT_PLUGINS=1 turns a broken plugin into an error
            raise to_cli_error(exc) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and plugin command names, sorted."""
        self.load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in without loading plugins; any other name after plugins added theirs."""
        if cmd_name not in self.lazy_commands:
            self.load_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report dbkeeper errors, Ctrl-C and SIGTERM with the documented exit codes."""
        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except DbKeeperError as exc:
            raise to_cli_error(exc, get_state(ctx).secrets) from None
        except Terminated:
            click.echo("\nterminated", err=True)
            raise click.exceptions.Exit(EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
