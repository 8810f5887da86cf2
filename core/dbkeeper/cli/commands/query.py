"""``dbkeeper query SQL``: run one statement and print what it returned."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from dbkeeper.cli._connections import db_option, open_connection
from dbkeeper.cli._interrupt import run_interruptibly

if TYPE_CHECKING:
    from dbkeeper.result import QueryResult

FORMATS = ("table", "json", "csv")


@click.command()
@click.argument("sql")
@click.option(
    "--param", "-p", "params", multiple=True, metavar="VALUE | NAME=VALUE",
    help="Bind a parameter: VALUE fills the next ? placeholder, NAME=VALUE fills :NAME. Repeatable. "
         "Bound as text unless the value is a JSON number, true, false or null; quote it as a JSON string "
         "(e.g. '\"007\"') to force text.",
)
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format.")
@db_option
@click.pass_context
def query(ctx: click.Context, sql: str, params: tuple[str, ...], fmt: str, db: str | None) -> None:
    """Run one SQL statement and print its rows, or how many rows it changed.

    SQL is a single statement; pass - to read it from standard input. A
    SQLite database file is created if it does not exist yet.

    \b
    Examples:
      dbkeeper query --db sqlite:///app.db "SELECT * FROM users WHERE id = ?" --param 42
      dbkeeper query --db app "SELECT * FROM users WHERE name = :name" --param name=alice -f json
    """
    from dbkeeper.cli._params import parse_params

    bound = parse_params(params)
    if sql == "-":
        sql = sys.stdin.read()
    if not sql.strip():
        raise click.BadParameter("the statement is empty", param_hint="SQL")
    connection = open_connection(ctx, db, create=True)
    result = run_interruptibly(connection.execute, sql, bound)
    if not result.columns:
        _print_affected(result, fmt)
    elif fmt == "json":
        from dbkeeper.cli._output import echo_json

        echo_json(result.rows)
    elif fmt == "csv":
        from dbkeeper.cli._output import echo_csv

        echo_csv(result.columns, result.tuples())
    else:
        _print_table(result)


def _print_affected(result: QueryResult, fmt: str) -> None:
    """A statement without a result set: report the rows it changed (``None`` when unknown)."""
    affected = result.rows_affected if result.rows_affected >= 0 else None
    if fmt == "json":
        from dbkeeper.cli._output import echo_json

        echo_json({"rows_affected": affected, "lastrowid": result.lastrowid})
    elif fmt == "csv":
        from dbkeeper.cli._output import echo_csv

        echo_csv(["rows_affected", "lastrowid"], [[affected, result.lastrowid]])
    elif affected is None:
        click.echo("statement executed")
    else:
        click.echo(f"{affected} row{'' if affected == 1 else 's'} affected")


def _print_table(result: QueryResult) -> None:
    from dbkeeper.cli._output import add_row, make_console, new_table, show

    console = make_console()
    table = new_table(*result.columns)
    for row in result.tuples():
        add_row(table, row)
    count = result.row_count
    table.caption = f"{count} row{'' if count == 1 else 's'} in {_ms(result.execution_time)}"
    table.caption_justify = "left"
    show(console, table)


def _ms(seconds: Any) -> str:
    return f"{float(seconds) * 1000:.1f} ms"
