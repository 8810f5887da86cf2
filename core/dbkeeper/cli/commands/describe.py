"""``dbkeeper describe TABLE``: columns, keys, indexes and row count of one table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from dbkeeper.cli._connections import db_option, open_connection
from dbkeeper.cli._interrupt import run_interruptibly

if TYPE_CHECKING:
    from rich.console import Console


@click.command()
@click.argument("table")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@click.pass_context
def describe(ctx: click.Context, table: str, db: str | None, as_json: bool) -> None:
    """Describe TABLE: columns, primary key, indexes, foreign keys and row count."""
    connection = open_connection(ctx, db)
    info = run_interruptibly(connection.get_table_info, table)
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json(info)
        return
    from dbkeeper.cli._output import make_console

    _print_info(make_console(), info)


def _print_info(console: Console, info: dict[str, Any]) -> None:
    from rich.text import Text

    from dbkeeper.cli._output import add_row, new_table, show

    rows = info["row_count"]
    show(console, Text.assemble(("table ", "bold"), (info["name"], "bold cyan"),
                                f"  ({rows} row{'' if rows == 1 else 's'})"))
    columns = new_table("column", "type", "nullable", "default", "primary key", title="Columns")
    for column in info["columns"]:
        add_row(columns, [column["name"], column["type"], _yes(column["nullable"]), _absent(column["default"]),
                          _yes(column["primary_key"])])
    show(console, columns)
    primary_key = ", ".join(info["primary_key"]) or "none"
    show(console, Text.assemble(("Primary key: ", "bold"), primary_key))
    if info["indexes"]:
        indexes = new_table("index", "columns", "unique", title="Indexes")
        for index in info["indexes"]:
            add_row(indexes, [index["name"], ", ".join(index["columns"]), _yes(index["unique"])])
        show(console, indexes)
    else:
        show(console, Text.assemble(("Indexes: ", "bold"), "none"))
    if info["foreign_keys"]:
        keys = new_table("columns", "references", "on delete", "on update", title="Foreign keys")
        for key in info["foreign_keys"]:
            target = f"{key['referred_table']}({', '.join(key['referred_columns'])})"
            add_row(keys, [", ".join(key["columns"]), target, _absent(key["on_delete"]), _absent(key["on_update"])])
        show(console, keys)
    else:
        show(console, Text.assemble(("Foreign keys: ", "bold"), "none"))


def _absent(value: Any) -> Any:
    """An absent default or foreign-key action prints as nothing.

    ``add_row`` shows ``None`` as a dimmed ``NULL``, right for data but wrong
    here: ``default NULL`` or ``on delete NULL`` read as settings that were
    never made. A column whose default really is NULL reports the text
    ``NULL`` from the database and still prints it.
    """
    return "" if value is None else value


def _yes(flag: Any) -> str:
    return "yes" if flag else "no"
