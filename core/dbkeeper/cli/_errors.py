"""How dbkeeper errors reach the terminal: ``error: <message>`` and an exit code.

The exit codes are part of the CLI's contract (``docs/cli.md``): 1 when an
operation failed, 2 when the invocation itself was wrong - click's usage
errors and :class:`~dbkeeper.errors.ConfigurationError` (bad URL, unknown
connection name, no database given, a URL scheme no plugin handles). Every
message passes through :func:`~dbkeeper.redaction.redact` with the secrets
the CLI has seen, so a password cannot reach the terminal even if some layer
below forgot to mask it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any, ClassVar

import click

from dbkeeper.errors import ConfigurationError, DbKeeperError

#: Exit code of a command interrupted with Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

#: Exit code of a command stopped with SIGTERM (128 + SIGTERM), after the same clean-up as Ctrl-C.
EXIT_TERMINATED = 143


class CliError(click.ClickException):
    """An operation failed: printed as ``error: <message>``, exit code 1, no traceback."""

    exit_code: ClassVar[int] = 1

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``error: <message>`` on stderr (click prints ``Error:`` and usage hints)."""
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


class CliUsageError(CliError):
    """The invocation was wrong (configuration, URL, connection name): exit code 2."""

    exit_code: ClassVar[int] = 2


def to_cli_error(exc: DbKeeperError, secrets: Iterable[str | None] = ()) -> CliError:
    """Turn a dbkeeper error into the click exception that reports it, secrets redacted."""
    from dbkeeper.redaction import redact

    message = redact(str(exc), secrets) or type(exc).__name__
    if isinstance(exc, ConfigurationError):
        return CliUsageError(message)
    return CliError(message)
