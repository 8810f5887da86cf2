"""The ``dbkeeper`` command line.

Startup cost is kept low on purpose (``dbkeeper --help`` well under a
quarter of a second): this module imports only click and the small group
classes; every command lives in its own module under
:mod:`dbkeeper.cli.commands`, imported when it is used, and imports rich,
SQLAlchemy and drivers inside its function. Plugins add commands through
the ``dbkeeper_register_commands`` hook. ``docs/cli.md`` is the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from dbkeeper._version import __version__
from dbkeeper.cli._group import DbKeeperGroup

__all__ = ["BUILTIN_COMMANDS", "cli", "main"]

#: Built-in commands: name -> "module:attribute", imported on first use.
BUILTIN_COMMANDS: dict[str, str] = {
    "backup": "dbkeeper.cli.commands.backup:backup",
    "demo": "dbkeeper.cli.commands.demo:demo",
    "describe": "dbkeeper.cli.commands.describe:describe",
    "health": "dbkeeper.cli.commands.health:health",
    "migrate": "dbkeeper.cli.commands.migrate:migrate",
    "monitor": "dbkeeper.cli.commands.monitor:monitor",
    "optimize": "dbkeeper.cli.commands.monitor:optimize",
    "plugins": "dbkeeper.cli.commands.plugins:plugins",
    "query": "dbkeeper.cli.commands.query:query",
    "schema": "dbkeeper.cli.commands.schema:schema",
    "tables": "dbkeeper.cli.commands.tables:tables",
}


@click.group(
    cls=DbKeeperGroup,
    lazy_commands=BUILTIN_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", "-V", prog_name="dbkeeper", message="%(prog)s %(version)s")
def cli() -> None:
    """Keep databases healthy: query, inspect, migrate, back up, monitor and tune them from the shell.

    Commands that act on one database take --db URL_OR_NAME (or use
    $DBKEEPER_URL, then the default connection in dbkeeper.toml).
    Exit codes: 0 ok, 1 operation failed, 2 usage or configuration error,
    130 interrupted.
    """


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``dbkeeper`` script; exits the process with the command's exit code."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="dbkeeper")
