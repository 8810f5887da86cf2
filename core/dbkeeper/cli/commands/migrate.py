"""``dbkeeper migrate``: the click group ``migrate`` with up, down, status, new, repair, baseline, lint.

Options may follow the subcommand or precede it (``dbkeeper migrate --db app
up``). ``--db`` takes a URL or a connection name (``DBKEEPER_URL`` and the
config file's default otherwise); ``--dir`` defaults to
``$DBKEEPER_MIGRATIONS_DIR`` or ``./migrations``. Results go to stdout (one
JSON document with ``--json``); lock waits, progress bars and failures go to
stderr. Exit status: 0 on success, 1 when a migration failed or an error
stopped the run before it started, 2 for usage and configuration errors
(as every ``dbkeeper`` command).

Heavy imports happen inside the commands, so ``--help`` is instant. Run it
standalone with ``python -m dbkeeper.cli.commands.migrate``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dbkeeper.cli._connections import db_option
from dbkeeper.cli._group import CommandGroup

if TYPE_CHECKING:
    from dbkeeper.migrations.migrator import Listener, Migrator
    from dbkeeper.migrations.model import MigrationResult

DIR_ENV = "DBKEEPER_MIGRATIONS_DIR"
F = TypeVar("F", bound=Callable[..., Any])
#: ``ctx.meta`` key: the options given to the ``migrate`` group, which its subcommands inherit.
_META = "dbkeeper.migrate"


class _LockTimeout(click.ParamType[float]):
    """Seconds, zero or more (``inf`` waits for ever): ``-5`` and ``nan`` are usage errors (exit 2)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from dbkeeper.errors import DbKeeperError
        from dbkeeper.migrations.locking import check_lock_timeout

        try:
            return check_lock_timeout(value)
        except DbKeeperError as exc:
            self.fail(str(exc), param, ctx)


def _common(func: F) -> F:
    """Options every subcommand (and the group) accepts."""
    options = [
        db_option,
        click.option("--dir", "directory", metavar="DIR", default=None, type=click.Path(file_okay=False),
                     help=f"Migrations directory (default: ${DIR_ENV} or ./migrations)."),
        click.option("--table", default=None, metavar="NAME", help="History table (default: dbkeeper_migrations)."),
        click.option("--lock-timeout", type=_LockTimeout(), default=None, metavar="SECONDS",
                     help="How long to wait for another migrator (default: 60)."),
        click.option("--json", "as_json", is_flag=True, default=None, help="Print one JSON document."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _Settings:
    def __init__(self, ctx: click.Context, **given: Any) -> None:
        from dbkeeper.cli._connections import remember_raw_secrets

        parent: dict[str, Any] = ctx.meta.get(_META, {})
        merged = {k: v if v is not None else parent.get(k) for k, v in given.items()}
        self.db: str | None = merged.get("db")
        remember_raw_secrets(ctx, self.db)  # before anything can fail, so every error message is redacted
        self.directory = Path(merged.get("directory") or os.environ.get(DIR_ENV) or "migrations")
        self.table: str = merged.get("table") or "dbkeeper_migrations"
        timeout = merged.get("lock_timeout")
        self.lock_timeout: float = float(timeout) if timeout is not None else 60.0
        self.as_json: bool = bool(merged.get("as_json"))


@click.group("migrate", cls=CommandGroup)
@_common
@click.pass_context
def migrate(ctx: click.Context, /, **options: Any) -> None:
    """Apply, roll back and inspect schema migrations (SQL and JSON files)."""
    ctx.meta[_META] = {**ctx.meta.get(_META, {}), **{k: v for k, v in options.items() if v is not None}}


# -- helpers ------------------------------------------------------------------------------------------
def _migrator(settings: _Settings, listener: Listener | None = None,
              allow_missing: bool = False) -> tuple[Migrator, Callable[[], None]]:
    from dbkeeper.cli._connections import resolve_db
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.migrations.connect import RUN_POOL, open_connection
    from dbkeeper.migrations.files import load_directory
    from dbkeeper.migrations.migrator import Migrator
    from dbkeeper.migrations.planner import build_graph

    graph = build_graph(load_directory(settings.directory))
    name, url, options = resolve_db(click.get_current_context(), settings.db)
    built = DatabaseConnection.from_url(url, name=name, record_queries=False, **{**dict(options), **RUN_POOL})
    connection, _ = open_connection(built)  # connected, with the pool a library-started run uses
    migrator = Migrator(connection, graph, table=settings.table, lock_timeout=settings.lock_timeout,
                        allow_missing=allow_missing, listener=listener)
    return migrator, connection.disconnect


def _format_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _console_listener(as_json: bool) -> Listener:
    from dbkeeper.migrations.migrator import Listener

    class Console(Listener):
        """Lines on stderr, or a progress bar when stderr is a terminal and the run is long."""

        def __init__(self) -> None:
            self.progress: Any = None
            self.task: Any = None

        def message(self, text: str) -> None:
            click.echo(text, err=True)

        def planned(self, steps: Sequence[Any]) -> None:
            if as_json or len(steps) < 10 or not sys.stderr.isatty():
                return
            from rich.console import Console as RichConsole
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=RichConsole(stderr=True), transient=True)
            self.progress.start()
            self.task = self.progress.add_task("migrating", total=len(steps))

        def started(self, step: Any, index: int, total: int) -> None:
            if self.progress is not None:
                self.progress.update(self.task, description=f"{step.direction} {step.migration.id}")

        def finished(self, step: Any, result: MigrationResult, index: int, total: int) -> None:
            bar = self.progress
            if bar is not None:
                bar.advance(self.task)
                if index + 1 == total or not result.success:
                    bar.stop()
                    self.progress = None
            if as_json or (bar is not None and result.success):
                return  # the bar stands for the per-migration lines
            verb = ("applied" if step.direction == "up" else "rolled back") if result.success else "FAILED"
            line = f"{verb:>11} {step.migration.id} {step.migration.name} ({_format_ms(result.execution_time)})"
            if not result.success:
                line += f"\n            {result.error_message}"
            click.echo(line, err=not result.success)

    return Console()


def _print_dry_run(report: Any) -> None:
    if not report.steps:
        click.echo("-- nothing to do")
    for step in report.steps:
        mode = "in one transaction" if step.mode == "transaction" else "statement by statement, outside a transaction"
        start = f", resuming at statement {step.start_at}" if step.start_at > 1 else ""
        click.echo(f"-- {step.direction} {step.migration.id} {step.migration.name} ({mode}{start})")
        for statement in step.statements[step.start_at - 1:]:
            click.echo(f"{statement};")
        click.echo("")


def _finish_run(report: Any, settings: _Settings) -> None:
    if settings.as_json:
        click.echo(json.dumps(report.to_dict(), default=str))
    elif report.dry_run:
        _print_dry_run(report)
    elif not report.results:
        click.echo("nothing to do: " + ("every migration is applied" if report.direction == "up"
                                        else "no applied migration to roll back"))
    else:
        done = sum(1 for r in report.results if r.success)
        verb = "applied" if report.direction == "up" else "rolled back"
        click.echo(f"{verb} {done} of {len(report.steps)} migration(s)")
    if not report.success:
        click.get_current_context().exit(1)


# -- commands ---------------------------------------------------------------------------------------------
@migrate.command("up")
@_common
@click.option("--to", "target", metavar="ID", help="Apply pending migrations up to and including ID.")
@click.option("--dry-run", is_flag=True, help="Print the SQL that would run, in order; change nothing.")
@click.option("--allow-missing", is_flag=True, help="Proceed although applied migrations have no file.")
@click.pass_context
def up(ctx: click.Context, /, target: str | None, dry_run: bool, allow_missing: bool, **options: Any) -> None:
    """Apply pending migrations, each in its own transaction, holding the migration lock."""
    settings = _Settings(ctx, **options)
    migrator, close = _migrator(settings, _console_listener(settings.as_json), allow_missing)
    try:
        report = migrator.up(target=target, dry_run=dry_run)
    finally:
        close()
    _finish_run(report, settings)


@migrate.command("down")
@_common
@click.option("--to", "target", metavar="ID",
              help="Roll back every migration applied after ID (ID stays); --to 0 rolls back all.")
@click.option("--all", "everything", is_flag=True, help="Roll back every applied migration, newest first.")
@click.option("--dry-run", is_flag=True, help="Print the rollback SQL that would run; change nothing.")
@click.option("--allow-missing", is_flag=True, help="Use the recorded rollback SQL of migrations without a file.")
@click.pass_context
def down(ctx: click.Context, /, target: str | None, everything: bool, dry_run: bool, allow_missing: bool,
         **options: Any) -> None:
    """Roll back the latest applied migration, everything applied after --to ID, or everything (--all)."""
    if everything and target is not None:
        raise click.UsageError("--all and --to exclude each other: --all rolls back everything, --to ID what "
                               "was applied after ID")
    settings = _Settings(ctx, **options)
    migrator, close = _migrator(settings, _console_listener(settings.as_json), allow_missing)
    try:
        report = migrator.down(target=target, dry_run=dry_run, everything=everything)
    finally:
        close()
    _finish_run(report, settings)


@migrate.command("status")
@_common
@click.option("--all", "show_all", is_flag=True, help="List every applied migration instead of folding them.")
@click.pass_context
def status(ctx: click.Context, /, show_all: bool, **options: Any) -> None:
    """Show every migration: applied, pending, failed, interrupted, drifted or missing."""
    from dbkeeper.migrations.status import render_table

    settings = _Settings(ctx, **options)
    migrator, close = _migrator(settings)
    try:
        report = migrator.status()
    finally:
        close()
    if settings.as_json:
        click.echo(json.dumps(report.to_dict(), default=str))
    else:
        click.echo(render_table(report, show_all=show_all))


@migrate.command("new")
@_common
@click.argument("name")
@click.option("--description", default="", help="One line saying what the migration does.")
@click.option("--depends", multiple=True, metavar="ID", help="An id this migration depends on (repeatable).")
@click.option("--format", "file_format", type=click.Choice(["sql", "json"]), default="sql", show_default=True,
              help="An .up.sql/.down.sql pair or one JSON file.")
@click.pass_context
def new(ctx: click.Context, /, name: str, description: str, depends: tuple[str, ...], file_format: str,
        **options: Any) -> None:
    """Scaffold a new migration with the next sequential id."""
    from dbkeeper.migrations.files import next_id, write_json, write_sql_pair
    from dbkeeper.migrations.model import Migration

    settings = _Settings(ctx, **options)
    directory = settings.directory
    existing = [p.name for p in directory.iterdir()] if directory.is_dir() else []
    migration = Migration(id=next_id(existing), name=name, description=description, dependencies=list(depends))
    if file_format == "json":
        migration.sql = "-- write the migration here\n"
        paths = [write_json(migration, directory)]
    else:
        migration.sql = "-- write the migration here\n"
        migration.rollback_sql = "-- write the SQL that undoes it here (an empty file means: no rollback)\n"
        paths = list(write_sql_pair(migration, directory))
    if settings.as_json:
        click.echo(json.dumps({"id": migration.id, "files": [str(p) for p in paths]}))
    else:
        for path in paths:
            click.echo(f"created {path}")


@migrate.command("repair")
@_common
@click.argument("migration_id", required=False)
@click.option("--resolve", "action", flag_value="resolve",
              help="Mark the failed/interrupted operation as completed (you finished it by hand).")
@click.option("--retry", "action", flag_value="retry", help="Run it again from the first statement not committed.")
@click.option("--forget", "action", flag_value="forget",
              help="Delete the failed run's record; the migration becomes pending again.")
@click.option("--accept-checksum", "action", flag_value="accept-checksum",
              help="Accept the changed file of an applied migration (recorded in the history).")
@click.option("--from", "from_statement", type=click.IntRange(min=1), metavar="K",
              help="With --retry: start at statement K (an interrupted statement that did take effect).")
@click.pass_context
def repair(ctx: click.Context, /, migration_id: str | None, action: str | None, from_statement: int | None,
           **options: Any) -> None:
    """Resolve a failed, interrupted or drifted migration; without arguments, list what needs it."""
    settings = _Settings(ctx, **options)
    migrator, close = _migrator(settings, _console_listener(settings.as_json))
    try:
        if migration_id is None or action is None:
            problems = migrator.status().problems
            if migration_id is not None:
                problems = [p for p in problems if p.id == migration_id]
            if settings.as_json:
                click.echo(json.dumps({"needs_repair": [p.to_dict() for p in problems]}, default=str))
            elif not problems:
                click.echo("nothing needs repair")
            else:
                from dbkeeper.migrations.status import _advice

                for problem in problems:
                    click.echo(f"{problem.id}: {problem.state}; {problem.error_message or ''}".rstrip("; "))
                    click.echo(f"    fix: dbkeeper migrate {_advice(problem).split('(', 1)[1].rstrip(')')}")
            return
        if from_statement is not None and action != "retry":
            raise click.UsageError("--from goes with --retry")
        message = migrator.repair(migration_id, action, from_statement=from_statement)
    finally:
        close()
    click.echo(json.dumps({"success": True, "message": message}) if settings.as_json else message)


@migrate.command("baseline")
@_common
@click.option("--to", "target", metavar="ID", help="Mark migrations up to and including ID (default: all).")
@click.option("--dry-run", is_flag=True, help="List what would be marked; change nothing.")
@click.pass_context
def baseline(ctx: click.Context, /, target: str | None, dry_run: bool, **options: Any) -> None:
    """Mark migrations as applied without running them (adopt an existing database)."""
    settings = _Settings(ctx, **options)
    migrator, close = _migrator(settings)
    try:
        if dry_run:
            rows = migrator.read_history()
            graph = migrator.graph
            cutoff = graph.position[graph.get(target).id] if target else len(graph)
            ids = [m.id for m in graph.ordered[: cutoff + 1] if m.id not in rows or rows[m.id].status != "applied"]
        else:
            ids = migrator.baseline(target=target)
    finally:
        close()
    if settings.as_json:
        click.echo(json.dumps({"success": True, "dry_run": dry_run, "baselined": ids}))
    else:
        verb = "would mark" if dry_run else "marked"
        click.echo(f"{verb} {len(ids)} migration(s) as applied without running them"
                   + (f": {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}" if ids else ""))


@migrate.command("lint")
@_common
@click.option("--dialect", metavar="NAME", help="Lint offline for this dialect (postgres, mysql, sqlite, ...); "
              "without it the --db server answers the rules' questions.")
@click.option("--target-version", metavar="VERSION", help="Offline: the server version to judge for "
              "(e.g. 11, mysql-8.0.28, mariadb-10.6, 3.35).")
@click.option("--all", "everything", is_flag=True, help="With a database: lint applied migrations too.")
@click.option("--fail-on", type=click.Choice(["info", "warning", "error", "never"]), default="warning",
              show_default=True, help="Exit 1 when a finding of this severity or worse exists.")
@click.pass_context
def lint(ctx: click.Context, /, dialect: str | None, target_version: str | None, everything: bool, fail_on: str,
         **options: Any) -> None:
    """Check migrations for statements that lock or rewrite live tables, with the reason and the safe rewrite.

    Disable a rule for one file with a comment: ``-- dbkeeper:lint-disable rule-id``
    (``-- dbkeeper:lint-disable-next rule-id`` for the statement after it).
    """
    from dbkeeper.migrations.lint.api import lint_directory

    settings = _Settings(ctx, **options)
    database: Any = None
    if dialect is None:
        from dbkeeper.cli._connections import resolve_db
        from dbkeeper.engine.connection import DatabaseConnection
        from dbkeeper.migrations.connect import RUN_POOL

        name, url, db_options = resolve_db(ctx, settings.db)
        database = DatabaseConnection.from_url(url, name=name, record_queries=False,
                                               **{**dict(db_options), **RUN_POOL})
    elif settings.db is not None:
        raise click.UsageError("--dialect lints offline: drop --db, or drop --dialect to ask the server")
    try:
        report = lint_directory(settings.directory, database=database, dialect=dialect,
                                target_version=target_version, everything=everything, table=settings.table)
    finally:
        if database is not None:
            database.disconnect()
    if settings.as_json:
        click.echo(json.dumps(report.to_dict(), default=str))
    else:
        _print_lint(report)
    if report.fails(None if fail_on == "never" else fail_on):
        ctx.exit(1)


def _print_lint(report: Any) -> None:
    for finding in report.findings:
        click.echo(f"{finding.file}:{finding.line}  {finding.severity}  {finding.rule}  {finding.summary}")
        click.echo(f"    {finding.statement}")
        if finding.detail:
            click.echo(f"    {finding.detail}")
        click.echo(f"    why: {finding.reason}")
        click.echo(f"    fix: {finding.rewrite}")
    counts = report.counts()
    summary = ", ".join(f"{n} {severity}" for severity, n in counts.items() if n) or "no findings"
    click.echo(f"{len(report.linted)} migration(s) linted for {report.target}: {summary}")
    for migration_id, rules in report.disabled.items():
        click.echo(f"    {migration_id}: disabled {', '.join(rules)}")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the group standalone (``python -m dbkeeper.cli.commands.migrate``)."""
    migrate.main(args=list(argv) if argv is not None else None, prog_name="dbkeeper migrate")


if __name__ == "__main__":
    main()
