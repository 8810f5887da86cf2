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


def _monitor(workspace: str | None, sample_seconds: float | None = None) -> DatabasePerformanceMonitor:
    from dbkeeper.monitoring.api import DatabasePerformanceMonitor

    return DatabasePerformanceMonitor(workspace, sample_seconds=sample_seconds)


def _sample_option(func: F) -> F:
    """``--sample-seconds``: the one-shot window when the workspace holds no fresh server history."""
    return click.option("--sample-seconds", type=click.FloatRange(min=0.0), default=None, metavar="SECONDS",
                        help="Without fresh stored history, read the server's statistics twice this many seconds "
                             "apart so rates are real (default 3).")(func)


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
@_sample_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_file", metavar="FILE", default=None, type=click.Path(dir_okay=False),
              help="Also write a self-contained HTML report (charts as inline SVG) to FILE.")
@click.pass_context
def report(ctx: click.Context, *, db: str | None, workspace: str | None, sample_seconds: float | None,
           as_json: bool, html_file: str | None) -> None:
    """The full report: queries, database statistics, alerts, recommendations (text, --json, --html FILE).

    Sections: query performance (rate, latency percentiles, top statements,
    errors), database performance (metrics, native statistics, connection
    use), alerts, recommendations, and the checks that could not run.
    """
    db, workspace = _settings(ctx, db, workspace)
    connection = _connect(ctx, db)
    monitor_ = _monitor(workspace, sample_seconds)
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
@_sample_option
@click.option("--json", "as_json", is_flag=True, help="Print the recommendations as JSON.")
@click.pass_context
def optimize(ctx: click.Context, db: str | None, workspace: str | None, sample_seconds: float | None,
             as_json: bool) -> None:
    """Recommendations with evidence, confidence and the exact fix (nothing is changed).

    Checks: missing, unused and duplicate indexes, foreign keys without an
    index, cache hit ratio, planner statistics, bloat, long-running and
    idle-in-transaction sessions, connection saturation.
    """
    connection = _connect(ctx, db)
    report = _monitor(workspace, sample_seconds).get_performance_report(connection.name, connection=connection)
    result = {key: report[key] for key in ("database_name", "notices", "alerts", "recommendations")}
    result["unavailable"] = report.get("unavailable") or {}
    server = report.get("server") or {}
    result["server_window"] = server.get("window")
    result["server_rates"] = server.get("rates") or {}
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json(result)
        return
    _print_notices(result["notices"])
    if result["server_window"]:
        from rich.text import Text

        from dbkeeper.cli._output import make_console, show

        rates = ", ".join(f"{k} {v:,.2f}" for k, v in result["server_rates"].items() if v is not None)
        show(make_console(), Text(f"server window: {result['server_window']['how']}: {rates}", style="dim"))
    _print_recommendations(result)


# -- text output ---------------------------------------------------------------------------------------------
def _print_notices(notices: list[dict[str, Any]]) -> None:
    """What the report cannot see, at the top, with the exact steps to enable it."""
    from rich.text import Text

    from dbkeeper.cli._output import make_console, show

    console = make_console()
    for notice in notices:
        show(console, Text(f"NOTE: {notice['message']}", style="bold yellow"))
        for number, step in enumerate(notice.get("steps") or [], start=1):
            show(console, Text(f"  {number}. {step}", style="yellow"))


def _print_server(server: dict[str, Any] | None) -> None:
    """The server's own statistics: sources, the window, rates, top statements, sessions, lock waits."""
    from rich.text import Text

    from dbkeeper.cli._output import add_row, make_console, new_table, show

    console = make_console()
    if server is None:
        show(console, Text("server statistics: none for this database (the recorder is the source)", style="dim"))
        return
    show(console, Text(f"server sources: {', '.join(server['sources']) or 'none'} (statements from "
                       f"{server['source']})"))
    span = server.get("window")
    if span is not None:
        show(console, Text(f"window: {span['how']}" + (" -- statistics were reset inside it" if span["reset"] else "")))
    rates = new_table("server rate", "value", right=(1,))
    for key, value in (server.get("rates") or {}).items():
        add_row(rates, (key, "unavailable" if value is None else f"{value:,.3f}"))
    gauges = server.get("gauges") or {}
    for key in ("connections", "max_connections", "xid_wraparound_age"):
        if key in gauges:
            add_row(rates, (key, f"{gauges[key]:,}"))
    sessions = server.get("sessions") or {}
    for key in ("active", "idle_in_transaction", "waiting", "longest_running_seconds"):
        if key in sessions:
            add_row(rates, (f"sessions {key}", f"{sessions[key]:,}"))
    show(console, rates)
    if server.get("statements"):
        top = new_table("statement (server)", "calls", "total ms", "mean ms", "rows",
                        title="top statements in the window", right=(1, 2, 3, 4))
        for item in server["statements"][:10]:
            add_row(top, (item["query"][:120], f"{item['calls']:,.0f}", f"{item['total_ms']:,.3f}",
                          f"{item['mean_ms']:.3f}", f"{item['rows']:,.0f}"))
        show(console, top)
    for wait in server.get("lock_waits") or []:
        show(console, Text(f"lock wait: session {wait['pid']} waits {wait['seconds']:.1f} s for "
                           f"{', '.join(str(p) for p in wait['blocking'])}: {wait['query'][:120]}", style="yellow"))
    for key, reason in sorted((server.get("unavailable") or {}).items()):
        show(console, Text(f"server unavailable: {key}: {reason}", style="dim"))


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
    _print_notices(data.get("notices") or [])
    _print_server(data.get("server"))
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
        show(console, Text("recorder: no statements recorded through dbkeeper for this database yet", style="dim"))
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
