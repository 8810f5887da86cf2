"""``dbkeeper tables``: list the user tables of a database."""

from __future__ import annotations

import click

from dbkeeper.cli._connections import db_option, open_connection
from dbkeeper.cli._interrupt import run_interruptibly


@click.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of one name per line.")
@click.pass_context
def tables(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """List the user tables, sorted, one per line."""
    connection = open_connection(ctx, db)
    names = run_interruptibly(connection.get_tables)
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json(names)
        return
    for name in names:
        click.echo(name)
