"""``dbkeeper monitor`` (live view), ``dbkeeper monitor report`` and ``dbkeeper optimize``.

All take ``--db URL_OR_NAME`` (or ``$DBKEEPER_URL``, then the config's
default connection) and ``--workspace DIR`` (the store the recorder flushed
to; default ``$DBKEEPER_WORKSPACE``). The database is known in the store by
its connection name: the name from ``dbkeeper.toml``, or for a URL the
database name (the SQLite file name without extension), which is what a
``DatabaseManager`` connected by the same URL records under.

The CLI's own statistics queries are not recorded: they are not the
application's workload. Results go to stdout (``--json``: JSON), errors to
stderr with secrets redacted; exit 0 on success, 1 when an operation failed,
2 for usage and configuration errors. rich and the monitoring modules are
imported inside the commands so ``dbkeeper --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dbkeeper.cli._connections import db_option
from dbkeeper.cli._group import BoundaryCommand, CommandGroup

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.monitoring.api import DatabasePerformanceMonitor

F = TypeVar("F", bound=Callable[..., Any])
_META = "dbkeeper.monitor"


def _common(func: F) -> F:
    """``--db`` and ``--workspace``: accepted by the group and by each subcommand."""
    func = click.option("--workspace", metavar="DIR", default=None, type=click.Path(file_okay=False),
                        help="Workspace holding the metrics store (default: $DBKEEPER_WORKSPACE).")(func)
    return db_option(func)


def _settings(ctx: click.Context, db: str | None, workspace: str | None) -> tuple[str | None, str | None]:
    """Merge subcommand options with the ones given to the ``monitor`` group (the subcommand's win)."""
    parent: dict[str, Any] = ctx.meta.get(_META, {})
    return db if db is not None else parent.get("db"), workspace if workspace is not None else parent.get("workspace")


def _connect(ctx: click.Context, db: str | None) -> DatabaseConnection:
    """Open the database named by ``--db`` without recording the CLI's own statements."""
    from dbkeeper import errors
    from dbkeeper.cli._connections import build_connection, missing_sqlite_file
    from dbkeeper.cli._interrupt import run_interruptibly

    connection = build_connection(ctx, db)
    connection.record_queries = False
    missing = missing_sqlite_file(connection.url)
    if missing is not None:
        raise errors.ConnectionError(f"SQLite database file {missing} does not exist; check the path")
    run_interruptibly(connection.connect)
    return connection


def _monitor(workspace: str | None) -> DatabasePerformanceMonitor:
    from dbkeeper.monitoring.api import DatabasePerformanceMonitor

    return DatabasePerformanceMonitor(workspace)


@click.group(cls=CommandGroup, invoke_without_command=True)
@_common
@click.option("--interval", type=click.FloatRange(min=0.0), default=2.0, show_default=True, metavar="SECONDS",
              help="Seconds between two snapshots.")
@click.option("--count", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N snapshots (default: until Ctrl-C).")
@click.option("--once", is_flag=True, help="One snapshot, then exit (the same as --count 1).")
@click.option("--window", type=click.FloatRange(min=1.0), default=60.0, show_default=True, metavar="SECONDS",
              help="Recorded statements of the last SECONDS feed the latency figures.")
@click.option("--json", "as_json", is_flag=True, help="Print each snapshot as one line of JSON.")
@click.pass_context
def monitor(ctx: click.Context, *, db: str | None, workspace: str | None, interval: float, count: int | None,
            once: bool, window: float, as_json: bool) -> None:
    """Watch a database live: statement rate and latency, sessions, cache, counters per second.

    Statements are what dbkeeper recorded for the database (from any process
    sharing the workspace); the rest are the database's own statistics.
    `dbkeeper monitor report` writes the full report.
    """
    ctx.meta[_META] = {"db": db, "workspace": workspace}
    if ctx.invoked_subcommand is not None:
        return
    import json

    from dbkeeper.cli.live_view import run_live

    connection = _connect(ctx, db)

    def emit(snapshot: dict[str, Any]) -> None:
        from dbkeeper.cli._output import json_default

        click.echo(json.dumps(snapshot, default=json_default))

    run_live(_monitor(workspace), connection, interval=interval, count=1 if once else count, window=window,
             emit=emit if as_json else None)


@monitor.command()
@_common
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_file", metavar="FILE", default=None, type=click.Path(dir_okay=False),
              help="Also write a self-contained HTML report (charts as inline SVG) to FILE.")
@click.pass_context
def report(ctx: click.Context, db: str | None, workspace: str | None, as_json: bool, html_file: str | None) -> None:
    """The full report: queries, database statistics, alerts, recommendations (text, --json, --html FILE).

    Sections: query performance (rate, latency percentiles, top statements,
    errors), database performance (metrics, native statistics, connection
    use), alerts, recommendations, and the checks that could not run.
    """
    db, workspace = _settings(ctx, db, workspace)
    connection = _connect(ctx, db)
    monitor_ = _monitor(workspace)
    data = monitor_.get_performance_report(connection.name, connection=connection)
    if html_file is not None:
        from dbkeeper.monitoring.html_report import write_html

        path = write_html(html_file, data, monitor_.store.samples(connection.name))
        click.echo(f"HTML report written to {path}", err=as_json)
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json(data)
    else:
        _print_report(data)


@click.command(cls=BoundaryCommand)
@_common
@click.option("--json", "as_json", is_flag=True, help="Print the recommendations as JSON.")
@click.pass_context
def optimize(ctx: click.Context, db: str | None, workspace: str | None, as_json: bool) -> None:
    """Recommendations with evidence, confidence and the exact fix (nothing is changed).

    Checks: missing, unused and duplicate indexes, foreign keys without an
    index, cache hit ratio, planner statistics, bloat, long-running and
    idle-in-transaction sessions, connection saturation.
    """
    from dbkeeper.monitoring.api import optimize_database

    connection = _connect(ctx, db)
    report = optimize_database(connection.name, workspace, connection=connection)
    result = {key: report[key] for key in ("database_name", "alerts", "recommendations")}
    result["unavailable"] = report.get("unavailable") or {}
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json(result)
        return
    _print_recommendations(result)


# -- text output ---------------------------------------------------------------------------------------------
def _print_recommendations(result: dict[str, Any]) -> None:
    from rich.text import Text

    from dbkeeper.cli._output import make_console, show

    console = make_console()
    recommendations = result["recommendations"]
    if not recommendations:
        show(console, Text(f"{result['database_name']}: no recommendations", style="green"))
    for number, rec in enumerate(recommendations, start=1):
        where = f" {rec['table']}" if rec["table"] else ""
        show(console, Text.assemble((f"{number}. {rec['kind']}{where}", "bold"), f" [{rec['confidence']}]"))
        show(console, Text(f"   {rec['message']}"))
        show(console, Text.assemble(("   fix: ", "bold"), (rec["fix"], "cyan")))
    for alert in result.get("alerts") or []:
        show(console, Text(f"alert: {alert['message']}", style="yellow"))
    for check, reason in sorted((result.get("unavailable") or {}).items()):
        show(console, Text(f"unavailable: {check}: {reason}", style="dim"))


def _print_report(data: dict[str, Any]) -> None:
    from rich.text import Text

    from dbkeeper.cli._output import add_row, make_console, new_table, show

    console = make_console()
    show(console, Text(f"Performance report: {data['database_name']} ({data['generated_at']})", style="bold"))
    query = data["query_performance"]
    if query:
        summary = new_table("query performance", "value", right=(1,))
        for label, value in (
                ("statements", query["samples"]), ("per second", f"{query['queries_per_second']:.2f}"),
                ("avg ms", f"{query['avg_ms']:.3f}"), ("p50 ms", f"{query['p50_ms']:.3f}"),
                ("p95 ms", f"{query['p95_ms']:.3f}"), ("p99 ms", f"{query['p99_ms']:.3f}"),
                ("errors", f"{query['errors']} ({query['error_rate']:.1%})")):
            add_row(summary, (label, value))
        show(console, summary)
        top = new_table("statement", "calls", "total ms", "avg ms", "p95 ms", "errors", title="top statements",
                        right=(1, 2, 3, 4, 5))
        for item in query["top_by_total_time"]:
            add_row(top, (item["fingerprint"], item["calls"], f"{item['total_ms']:.3f}", f"{item['avg_ms']:.3f}",
                          f"{item['p95_ms']:.3f}", item["errors"]))
        show(console, top)
    else:
        show(console, Text("no statements recorded for this database yet", style="dim"))
    metrics = (data["database_performance"] or {}).get("metrics")
    if metrics:
        table = new_table("database performance", "value", right=(1,))
        for key in ("connections_active", "connections_idle", "queries_per_second", "average_query_time_ms",
                    "cache_hit_ratio", "disk_io_mb"):
            value = metrics.get(key)
            add_row(table, (key, f"unavailable ({metrics['unavailable'].get(key)})" if value is None else value))
        show(console, table)
    _print_recommendations({"database_name": data["database_name"], "alerts": data["alerts"],
                            "recommendations": data["recommendations"], "unavailable": data["unavailable"]})
