"""The top-level ``dbkeeper`` group: lazy built-ins, plugin commands, errors and Ctrl-C.

Three jobs sit here so that every command gets them without repeating code:

* plugin commands - ``dbkeeper_register_commands`` is called once, the first
  time the group lists its commands or is asked for a name that is not a
  built-in, so ``dbkeeper query ...`` never pays for loading plugins' commands;
* errors - a :class:`~dbkeeper.errors.DbKeeperError` escaping a command is
  printed as ``error: <message>`` (secrets redacted) with exit code 1, or 2
  for configuration errors, and never as a traceback; click's own usage
  errors are printed the same way (``error:``, exit 2), and an invocation
  with ``--json`` also gets one JSON document with the error on stdout.
  :class:`ErrorBoundary` is that boundary, the only one in dbkeeper;
  :class:`CommandGroup` puts it on the command groups (``backup``,
  ``migrate``, ...) that also run standalone;
* Ctrl-C and SIGTERM - exit with 130 and 143 after click has closed the
  context, which closes every connection the command opened; SIGTERM (what
  ``timeout``, systemd and docker send) raises in the main thread like Ctrl-C,
  so every clean-up a Ctrl-C runs (scratch databases, 0600 temp files) runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from dbkeeper.cli._errors import EXIT_INTERRUPTED, EXIT_TERMINATED, from_click_exception, to_cli_error
from dbkeeper.cli._interrupt import Terminated, sigterm_as_interrupt
from dbkeeper.cli._lazy import LazyGroup
from dbkeeper.cli._state import CliState
from dbkeeper.errors import DbKeeperError

#: ``ctx.meta`` key: the arguments of the whole invocation, as the outermost group received them.
_RAW_ARGS = "dbkeeper.raw_args"


def wants_json(ctx: click.Context) -> bool:
    """Whether the invocation asked for ``--json`` (known even when parsing its options failed)."""
    return "--json" in ctx.meta.get(_RAW_ARGS, ())


def _secrets(ctx: click.Context) -> Iterable[str | None]:
    state = ctx.find_root().obj
    return state.secrets if isinstance(state, CliState) else ()


class ErrorBoundary(click.Command):
    """dbkeeper's one error boundary: one behaviour for every command and command group.

    * a :class:`~dbkeeper.errors.DbKeeperError` becomes ``error: <message>``
      (redacted with every secret recorded in the invocation's
      :class:`~dbkeeper.cli._state.CliState`), exit 2 for configuration
      errors and 1 for the rest (2 for all when :attr:`every_error_is_usage`);
    * click's usage errors (unknown option, a value out of range) keep their
      usage line but say ``error:`` and exit 2; other click errors exit 1;
    * with ``--json`` anywhere in the invocation, stdout also gets one JSON
      document ``{"success": false, "error": ..., "error_type": ...}``;
    * Ctrl-C exits with 130 and SIGTERM with 143 after click has closed the context.

    Commands never catch errors to report them; they raise, and this class
    reports. Nested boundaries share it: the innermost converts, the outer
    ones pass the converted error through. ``tests/test_cli_layout.py`` checks
    that no other module reports errors.
    """

    #: A group whose exit code 1 means something else (``schema diff``: drift) reports every error with 2.
    every_error_is_usage: bool = False

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Remember the raw arguments (for ``--json``), then parse; a parse error is reported our way."""
        ctx.meta.setdefault(_RAW_ARGS, list(args))
        try:
            return super().parse_args(ctx, args)
        except click.ClickException as exc:
            raise from_click_exception(exc, _secrets(ctx), as_json=wants_json(ctx)) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report errors, Ctrl-C and SIGTERM with the documented exit codes."""
        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except DbKeeperError as exc:
            raise to_cli_error(exc, _secrets(ctx), as_json=wants_json(ctx),
                               every_error_is_usage=self.every_error_is_usage) from None
        except click.ClickException as exc:
            raise from_click_exception(exc, _secrets(ctx), as_json=wants_json(ctx)) from None
        except Terminated:
            click.echo("\nterminated", err=True)
            raise click.exceptions.Exit(EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


class CommandGroup(ErrorBoundary, click.Group):
    """A click group behind the error boundary: the command groups (``backup``, ``migrate``, ...) that
    also run standalone."""


class BoundaryCommand(ErrorBoundary):
    """A single command behind the error boundary (``optimize``), for when it runs standalone."""


class UsageErrorGroup(CommandGroup):
    """A command group that reports every error with exit 2, because its exit 1 means something else."""

    every_error_is_usage = True


class DbKeeperGroup(LazyGroup, CommandGroup):
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
        from dbkeeper.engine.plugins import get_registry

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
