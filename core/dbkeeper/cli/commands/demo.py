"""``dbkeeper demo``: run the showcase (:mod:`dbkeeper.demo.runner`) with terminal-friendly output.

On a terminal the steps are drawn with rich (rules, tables, timings); when
stdout is not a terminal the demo prints plain text, so logs stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run in DIR and keep the database and dbkeeper.toml there (created if missing). "
                   "Default: a temporary directory, removed afterwards.")
def demo(directory: Path | None) -> None:
    """Run every dbkeeper capability end to end on a real SQLite database.

    Creates tables, bulk-loads 11,000 rows, queries with parameters, runs a
    transaction with a savepoint that rolls back, introspects, explains,
    checks health, lists plugins and shows pool statistics - verifying each
    result. Exits with 1 when a step fails.
    """
    import sys

    from dbkeeper.demo.runner import PlainReporter, run_demo

    if sys.stdout.isatty():
        from dbkeeper.cli._output import make_console

        console = make_console()
        run_demo(directory, output=lambda text: console.print(text, markup=False),
                 render_table=_RichTables(console), reporter=_RichReporter(console))
    else:
        run_demo(directory, output=click.echo, reporter=PlainReporter(click.echo))


class _RichTables:
    """Step tables as rich tables, indented under the step."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        from rich.padding import Padding

        from dbkeeper.cli._output import add_row, new_table

        if title:
            self.console.print(f"  {title}", markup=False)
        numeric = [i for i in range(len(headers))
                   if rows and all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in rows)]
        table = new_table(*headers, right=numeric)
        for row in rows:
            add_row(table, [f"{v:,.2f}" if isinstance(v, float) else v for v in row])
        self.console.print(Padding(table, (0, 0, 0, 2), expand=False))


class _RichReporter:
    """Step headers as rules, a green tick and the time when a step ends, a red cross when it fails."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def step_started(self, index: int, total: int, title: str) -> None:
        from rich.rule import Rule
        from rich.text import Text

        self.console.print(Rule(Text(f"{index}/{total}  {title}", style="bold cyan"), align="left"))

    def step_finished(self, index: int, total: int, title: str, seconds: float) -> None:
        from rich.text import Text

        self.console.print(Text.assemble(("  ✓ ", "bold green"), (f"{seconds * 1000:.1f} ms", "dim")))
        self.console.print()

    def step_failed(self, index: int, total: int, title: str, error: BaseException) -> None:
        from rich.text import Text

        self.console.print(Text.assemble(("  ✗ ", "bold red"), str(error)))
