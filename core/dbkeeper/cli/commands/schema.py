"""``dbkeeper schema``: dump, diff, generate and migration.

SOURCE and TARGET are each a database URL, a ``.json`` or ``.sql`` file, or
a Python module with models (see :mod:`dbkeeper.schema.sources`). ``diff``
exits 0 when there is no drift, 1 when there is, 2 on an error, so it can
gate a CI job (so the group is a :class:`~dbkeeper.cli._group.UsageErrorGroup`:
every error exits 2, JSON on ``--json`` as everywhere). Heavy imports happen inside the commands, so ``--help`` stays
instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from dbkeeper.cli._group import UsageErrorGroup

if TYPE_CHECKING:
    from dbkeeper.schema.model import SchemaDefinition


def _remember_secrets(*sources: str) -> None:
    """Record the passwords of the URLs among ``sources``, so the error boundary redacts them."""
    from dbkeeper.cli._connections import remember_raw_secrets

    ctx = click.get_current_context()
    for source in sources:
        remember_raw_secrets(ctx, source)


def _dialect_for(source: str, target: str, dialect: str | None) -> str:
    from dbkeeper.schema.sources import is_url, url_dialect

    if dialect:
        return dialect
    for side in (target, source):
        if is_url(side):
            return url_dialect(side)
    return "sqlite"


def _load(source: str) -> SchemaDefinition:
    from dbkeeper.schema.sources import load_schema

    return load_schema(source)


@click.group("schema", cls=UsageErrorGroup)
def schema() -> None:
    """Dump, compare and generate schemas; turn differences into migrations.

    SOURCE/TARGET: a database URL, a .json or .sql file, or a Python module
    (file.py or package.module) with SQLAlchemy models or a SchemaDefinition.
    """


@schema.command("dump")
@click.argument("url")
@click.option("--format", "fmt", type=click.Choice(["sql", "json"]), default="sql", show_default=True,
              help="SQL in the database's dialect, or the JSON definition.")
def dump(url: str, fmt: str) -> None:
    """Print the schema of the database at URL."""
    import json

    from dbkeeper.schema.sources import url_dialect

    _remember_secrets(url)
    definition = _load(url)
    if fmt == "json":
        click.echo(json.dumps(definition.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(definition.to_sql(url_dialect(url)), nl=False)


@schema.command("diff")
@click.argument("source")
@click.argument("target")
@click.option("--dialect", default=None, help="Dialect to compare in (default: the URL's, else sqlite).")
@click.option("--json", "as_json", is_flag=True, help="Print the drift report as JSON.")
@click.option("--sql", "show_sql", is_flag=True, help="Also print the SQL that would apply the difference.")
def diff(source: str, target: str, dialect: str | None, as_json: bool, show_sql: bool) -> None:
    """Compare SOURCE (current) with TARGET (wanted). Exit 0: no drift, 1: drift, 2: error."""
    from dbkeeper.schema.migration import compare
    from dbkeeper.schema.report import drift_dict, drift_report

    _remember_secrets(source, target)
    current, wanted = _load(source), _load(target)
    result = compare(current, wanted, _dialect_for(source, target, dialect))
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json(drift_dict(result, current.name, wanted.name))
    else:
        click.echo(drift_report(result, current.name, wanted.name), nl=False)
        if show_sql and not result.is_empty:
            click.echo("\n-- up\n" + result.up_sql(), nl=False)
    raise click.exceptions.Exit(0 if result.is_empty else 1)


@schema.command("generate")
@click.argument("models")
@click.option("--dialect", default="sqlite", show_default=True, help="Dialect to write DDL for.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write to a file instead.")
def generate(models: str, dialect: str, output: str | None) -> None:
    """Print the CREATE script of MODELS (a module, .json or .sql file, or URL) for --dialect."""
    _remember_secrets(models)
    sql = _load(models).to_sql(dialect)
    if output:
        from dbkeeper.schema.files import write_text_atomically

        write_text_atomically(Path(output), sql)
        click.echo(f"wrote {output}")
    else:
        click.echo(sql, nl=False)


@schema.command("migration")
@click.argument("source")
@click.argument("target")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False),
              help="Migrations directory to write the new migration into.")
@click.option("--name", default="schema_change", show_default=True, help="Name of the migration.")
@click.option("--dialect", default=None, help="Dialect to generate for (default: the URL's, else sqlite).")
@click.option("--allow-destructive", is_flag=True, help="Allow drops and narrowing type changes.")
def migration(source: str, target: str, directory: str, name: str, dialect: str | None,  # noqa: PLR0917
              allow_destructive: bool) -> None:
    """Write a migration (up and rollback SQL) that turns SOURCE into TARGET."""
    from dbkeeper.migrations.manager import MigrationManager
    from dbkeeper.schema.migration import compare, migration_from_diff

    _remember_secrets(source, target)
    result = compare(_load(source), _load(target), _dialect_for(source, target, dialect))
    if result.is_empty:
        click.echo("no drift: nothing to write")
        return
    for suggestion in result.suggestions:
        click.echo(f"suggestion: {suggestion}", err=True)
    draft = migration_from_diff(result, name=name, allow_destructive=allow_destructive)
    path = Path(directory)
    manager = MigrationManager()
    if path.is_dir():
        manager.load_migrations_from_directory(path)
    else:
        path.mkdir(parents=True)
        manager.migrations_dir = path
    created = manager.create_migration(name, draft.description, draft.sql, draft.rollback_sql)
    click.echo(f"wrote migration {created.id} ({len(result.operations)} change(s)) to {path}")
