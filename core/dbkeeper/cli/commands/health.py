"""``dbkeeper health``: can the database be reached, how fast, which server version."""

from __future__ import annotations

from typing import Any

import click

from dbkeeper.cli._connections import build_connection, db_option, missing_sqlite_file
from dbkeeper.cli._interrupt import run_interruptibly

#: Exit code when the database is unhealthy (the same as any failed operation).
EXIT_UNHEALTHY = 1


@click.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def health(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """Check that the database answers: status, round-trip latency, server version.

    Exits with 1 when the database is unhealthy, so it can serve as a
    container or cron health probe.
    """
    connection = build_connection(ctx, db)
    missing = missing_sqlite_file(connection.url)
    if missing is not None:
        report: dict[str, Any] = {
            "name": connection.name, "dialect": connection.dialect.name, "database": connection.url.database,
            "status": "unhealthy", "latency_ms": None, "server_version": None,
            "error": f"SQLite database file {missing} does not exist",
        }
    else:
        report = run_interruptibly(connection.health_check)
    report["url"] = connection.url.render()
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json(report)
    else:
        _print_report(report)
    if report["status"] != "healthy":
        ctx.exit(EXIT_UNHEALTHY)


def _print_report(report: dict[str, Any]) -> None:
    from rich.text import Text

    from dbkeeper.cli._output import make_console, show

    console = make_console()
    healthy = report["status"] == "healthy"
    show(console, Text.assemble(("status:          ", "bold"), (report["status"], "green" if healthy else "bold red")))
    latency = report["latency_ms"]
    lines = [
        ("connection", report["name"]),
        ("url", report["url"]),
        ("dialect", report["dialect"]),
        ("latency", None if latency is None else f"{latency:.3f} ms"),
        ("server version", report["server_version"]),
    ]
    if report.get("error"):
        lines.append(("error", report["error"]))
    for label, value in lines:
        show(console, Text.assemble((f"{label + ':':<17}", "bold"), "-" if value is None else str(value)))
