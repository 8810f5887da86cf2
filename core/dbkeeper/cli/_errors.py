"""How dbkeeper errors reach the terminal: ``error: <message>`` and an exit code.

The exit codes are part of the CLI's contract (``docs/cli.md``): 1 when an
operation failed, 2 when the invocation itself was wrong - click's usage
errors (unknown option, a value out of range) and
:class:`~dbkeeper.errors.ConfigurationError` (bad URL, unknown connection
name, no database given, a URL scheme no plugin handles). Every message
passes through :func:`~dbkeeper.redaction.redact` with the secrets the CLI
has seen, so a password cannot reach the terminal even if some layer below
forgot to mask it.

When the invocation asked for ``--json``, the error is also printed as one
JSON document on stdout (``{"success": false, "error": ..., "error_type":
...}``), so a script reading stdout always gets a document to parse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any, ClassVar

import click

from dbkeeper.errors import ConfigurationError, DbKeeperError

#: Exit code of a command interrupted with Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit code of a usage or configuration error.
EXIT_USAGE = 2

#: Exit code of a command stopped with SIGTERM (128 + SIGTERM), after the same clean-up as Ctrl-C.
EXIT_TERMINATED = 143


class CliError(click.ClickException):
    """An operation failed: printed as ``error: <message>``, exit code 1, no traceback."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, error_type: str | None = None, usage_ctx: click.Context | None = None,
                 as_json: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type or type(self).__name__
        self.usage_ctx = usage_ctx
        self.as_json = as_json

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``error: <message>`` on stderr (after the usage line for usage errors); JSON on stdout too."""
        if self.as_json:
            click.echo(json.dumps({"success": False, "error": self.format_message(), "error_type": self.error_type,
                                   "exit_code": self.exit_code}))
        if self.usage_ctx is not None:
            hint = ""
            if self.usage_ctx.command.get_help_option(self.usage_ctx) is not None:
                names = self.usage_ctx.help_option_names
                hint = f"Try '{self.usage_ctx.command_path} {names[0]}' for help.\n"
            click.echo(f"{self.usage_ctx.get_usage()}\n{hint}", file=file, err=file is None)
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


class CliUsageError(CliError):
    """The invocation was wrong (configuration, URL, connection name, an option's value): exit code 2."""

    exit_code: ClassVar[int] = EXIT_USAGE


def to_cli_error(exc: DbKeeperError, secrets: Iterable[str | None] = (), *, as_json: bool = False,
                 every_error_is_usage: bool = False) -> CliError:
    """Turn a dbkeeper error into the click exception that reports it, secrets redacted.

    ``every_error_is_usage`` is for command groups whose exit 1 means
    something else (``schema diff``: drift), so every error exits 2.
    """
    from dbkeeper.redaction import redact

    message = redact(str(exc), secrets) or type(exc).__name__
    kind = CliUsageError if every_error_is_usage or isinstance(exc, ConfigurationError) else CliError
    return kind(message, error_type=type(exc).__name__, as_json=as_json)


def from_click_exception(exc: click.ClickException, secrets: Iterable[str | None] = (), *,
                         as_json: bool = False) -> CliError:
    """click's own errors in dbkeeper's form: usage errors exit 2, any other 1, both ``error: ...``."""
    from dbkeeper.redaction import redact

    if isinstance(exc, CliError):
        exc.as_json = exc.as_json or as_json
        return exc
    message = redact(exc.format_message(), secrets)
    if isinstance(exc, click.UsageError):
        return CliUsageError(message, error_type="UsageError", usage_ctx=exc.ctx, as_json=as_json)
    if exc.exit_code == EXIT_USAGE:  # a command's own usage error (e.g. no key and no terminal to ask on)
        return CliUsageError(message, error_type=type(exc).__name__, as_json=as_json)
    return CliError(message, error_type="Error", as_json=as_json)
