"""Output helpers shared by commands: rich consoles, tables, JSON and CSV.

Human output goes through rich when stdout is a terminal. When it is not (a
pipe, a file, a test), the console prints no colours and is made wide enough
that tables are never wrapped or truncated, so the text stays greppable.
Machine output (``--json``, ``--format csv``) never touches rich at all.
rich is imported inside these functions: it costs more than the whole CLI
start-up budget of ``dbkeeper --help``.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import decimal
import enum
import json
import sys
import uuid
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

#: Width of a console that is not a terminal: wide enough that rows are never wrapped.
_PIPE_WIDTH = 100_000


def make_console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr): styled on a terminal, plain text otherwise."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if _is_terminal(stream):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=_PIPE_WIDTH, no_color=True, highlight=False, soft_wrap=True)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def show(console: Console, *renderables: Any) -> None:
    """Print ``renderables``; off a terminal, without the trailing spaces rich pads cells with."""
    if console.is_terminal:
        console.print(*renderables)
        return
    with console.capture() as captured:
        console.print(*renderables)
    for line in captured.get().splitlines():
        click.echo(line.rstrip(), err=console.stderr)


def new_table(*headers: str, title: str | None = None, right: Iterable[int] = ()) -> Table:
    """A rich table with the project's look; ``right`` lists the columns to right-align (numbers)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left",
                  title_style="bold")
    right_aligned = set(right)
    for index, header in enumerate(headers):
        table.add_column(header, overflow="fold", justify="right" if index in right_aligned else "left")
    return table


def add_row(table: Table, values: Iterable[Any]) -> None:
    """Add one row; values are shown literally (never parsed as rich markup), NULL dimmed."""
    from rich.text import Text

    cells = [Text("NULL", style="dim") if v is None else Text(display_value(v)) for v in values]
    table.add_row(*cells)


def display_value(value: Any) -> str:
    """How a database value reads in a table: blobs as ``x'hex'``, JSON documents as JSON, the rest as ``str``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"x'{bytes(value).hex()}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json_text(value)
    return str(value)


def json_text(value: Any) -> str:
    """A ``json``/``jsonb`` value (the driver hands a dict or list) as one line of JSON, not a Python repr."""
    return json.dumps(value, ensure_ascii=False, default=json_default)


def json_default(value: Any) -> Any:
    """Encode what ``json`` cannot: dates (ISO 8601), decimals (exact text), blobs (hex)."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def to_json(data: Any) -> str:
    """``data`` as indented JSON (non-ASCII kept readable)."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=json_default)


def echo_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    click.echo(to_json(data))


def csv_value(value: Any) -> Any:
    """How a database value is written to CSV: NULL as empty, blobs as hex, bools as true/false, JSON as JSON."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json_text(value)
    return value


def echo_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a header line and rows as CSV (RFC 4180 quoting, ``\\n`` line ends) on stdout."""
    stream = sys.stdout
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([csv_value(v) for v in row])
    stream.flush()
