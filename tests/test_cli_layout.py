"""The CLI tier's shape (issue #18): one ``--db`` option, one error boundary, private modules kept private.

The CLI plumbing once existed three times: three ``--db`` resolvers, feature
CLIs importing ``dbkeeper.cli._*``, and a second error boundary in
``migrations/cli.py`` that printed its own ``error:`` lines and JSON. These
checks read the shipped source (the core and the plugin packages, not the
tests) with :mod:`ast`, so a copy that comes back fails here, by file and line.
Each checker is also run on a small bad example, so it is known to find what
it looks for.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "dbkeeper"
CLI = CORE / "cli"

#: The one module that defines ``--db`` (:func:`dbkeeper.cli._connections.db_option`).
DB_OPTION_HOME = CLI / "_connections.py"
#: The one module that reports errors (``ErrorBoundary``), and the one that formats them.
BOUNDARY_HOME = CLI / "_group.py"
ERROR_FORMAT_HOME = CLI / "_errors.py"
#: The functions that turn an exception into the CLI's report; only the boundary calls them.
REPORTERS = frozenset({"to_cli_error", "from_click_exception"})


def shipped_sources() -> list[Path]:
    """Every Python file of the core package and of the plugin packages (not their tests)."""
    files = sorted(CORE.rglob("*.py"))
    for package in sorted((ROOT / "plugins").glob("*/dbkeeper_*")):
        files += sorted(package.rglob("*.py"))
    return files


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def db_option_definitions(tree: ast.AST) -> Iterator[int]:
    """Lines of calls that pass the option name ``"--db"`` (``click.option("--db", ...)``, ``click.Option``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            names = [arg for arg in node.args if isinstance(arg, ast.Constant)]
            if isinstance(node.func, ast.Name | ast.Attribute) and any(a.value == "--db" for a in names):
                yield node.lineno
            for arg in node.args:  # click.Option(["--db"], ...)
                if isinstance(arg, ast.List | ast.Tuple) and any(
                        isinstance(e, ast.Constant) and e.value == "--db" for e in arg.elts):
                    yield node.lineno


def error_reports(tree: ast.AST) -> Iterator[int]:
    """Lines that report an error the boundary's way: a call of a reporter, or an ``"error: ..."`` text."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called in REPORTERS:
                yield node.lineno
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("error: "):
            yield node.lineno  # also the leading text of an f-string


def private_cli_imports(tree: ast.AST) -> Iterator[int]:
    """Lines importing a private CLI module: ``dbkeeper.cli._x`` or ``from dbkeeper.cli import _x``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        if any(name.startswith("dbkeeper.cli._") for name in names):
            yield node.lineno


def _violations(check: object, allowed: set[Path]) -> list[str]:
    found = []
    for path in shipped_sources():
        if path in allowed:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [f"{_name(path)}:{line}" for line in check(tree)]  # type: ignore[operator]
    return found


def test_the_checkers_find_what_they_look_for() -> None:
    bad = ast.parse(
        "import click\n"
        "from dbkeeper.cli._errors import to_cli_error\n"
        "from dbkeeper.cli import _state\n"
        "import dbkeeper.cli._connections\n"
        "opt = click.option('--db', 'db')\n"
        "other = click.Option(['--db'])\n"
        "def f(exc, name):\n"
        "    click.echo(f'error: {exc}', err=True)\n"
        "    raise to_cli_error(exc)\n"
    )
    assert list(private_cli_imports(bad)) == [2, 3, 4]
    assert sorted(db_option_definitions(bad)) == [5, 6]
    assert sorted(error_reports(bad)) == [8, 9]
    good = ast.parse("from dbkeeper.cli._connections import db_option\n@db_option\ndef f(db): ...\n")
    assert list(db_option_definitions(good)) == [] and list(error_reports(good)) == []


def test_only_cli_connections_defines_the_db_option() -> None:
    assert DB_OPTION_HOME.is_file()
    assert list(db_option_definitions(ast.parse(DB_OPTION_HOME.read_text()))), "db_option no longer defines --db"
    assert _violations(db_option_definitions, {DB_OPTION_HOME}) == [], (
        "define --db with dbkeeper.cli._connections.db_option (resolve it with resolve_db)")


def test_only_the_cli_group_reports_errors() -> None:
    assert list(error_reports(ast.parse(BOUNDARY_HOME.read_text()))), "the boundary no longer reports errors"
    assert _violations(error_reports, {BOUNDARY_HOME, ERROR_FORMAT_HOME}) == [], (
        "raise the error and let dbkeeper.cli._group.ErrorBoundary report it")


def test_no_module_outside_the_cli_imports_its_private_modules() -> None:
    outside = {path for path in shipped_sources() if CLI in path.parents}
    assert _violations(private_cli_imports, outside) == [], (
        "import dbkeeper.cli's public names, or move the code into the CLI tier")


@pytest.mark.parametrize("command", ["backup", "migrate", "monitor", "schema", "optimize"])
def test_every_feature_command_stands_behind_the_boundary(command: str) -> None:
    """Run standalone (``python -m``, a test's ``CliRunner``) they still report errors the CLI's way."""
    import click

    from dbkeeper.cli import cli
    from dbkeeper.cli._group import ErrorBoundary

    loaded = cli.get_command(click.Context(cli), command)
    assert isinstance(loaded, ErrorBoundary), f"{command} is a {type(loaded).__name__}"
