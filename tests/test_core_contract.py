"""The core's contract with its plugins, read from the source with ``ast``: drivers and dialect names stay out.

* No database driver is imported anywhere in ``core/dbkeeper`` (top level,
  inside functions or under ``TYPE_CHECKING``): the plugins own their drivers.
  The stdlib ``sqlite3`` is allowed only in the modules listed in
  :data:`CORE_SQLITE3`, each with the reason the core itself needs it.
* No dialect is known by name in the core: no comparison of a string with a
  dialect name or URL scheme (``dialect.name == "postgres"``) anywhere, and no
  such string at all outside the install-hint table, except the occurrences
  counted in :data:`KNOWN_NAME_USES`. That table is a ratchet: a count may go
  down (lower it when it does; several branches edit these files at once, so
  a lower count is not an error), never up, and a file not listed may hold none.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core" / "dbkeeper"

DRIVERS = frozenset({"psycopg", "psycopg2", "psycopg_pool", "pymysql", "MySQLdb", "mysql", "mariadb", "aiosqlite",
                     "redis", "asyncpg", "aiomysql", "sqlite3", "_sqlite3"})

#: Core modules that use the stdlib sqlite3 for files of the core's own, not for a user's database.
CORE_SQLITE3 = {
    "dbkeeper.monitoring.store": "the workspace's statistics store is an SQLite file dbkeeper owns",
    "dbkeeper.backup.catalog": "the backup catalog is an SQLite file dbkeeper owns",
    "dbkeeper.lifecycle.snapshot": "pre-upgrade snapshots of a user's SQLite file, called by "
                                   "dbkeeper.lifecycle.database: dialect knowledge still in the core",
}

DIALECT_NAMES = frozenset({"sqlite", "postgres", "postgresql", "mysql", "mariadb", "redis"})

#: The one table allowed to name dialects: which extra installs the plugin for a URL scheme.
INSTALL_HINT_TABLE = "dbkeeper.engine.plugins"

#: Remaining string uses of dialect names outside the install-hint table, per module (a ratchet, see above).
KNOWN_NAME_USES: dict[str, int] = {
    # the ported API's DatabaseType enum, its aliases and its scheme table (public names people port code against)
    "dbkeeper.engine.connection": 13,
    # SQLite as the embedded default: file URLs, the default connection name and dialect
    "dbkeeper.urls": 3,
    "dbkeeper.config": 4,
    "dbkeeper.cli._connections": 1,
    "dbkeeper.cli.commands.backup": 1,
    "dbkeeper.lifecycle.database": 2,
    "dbkeeper.cli.commands.schema": 2,
    "dbkeeper.schema.generator": 2,
    "dbkeeper.schema.model": 1,
    # the demos run on the shipped dialects
    "dbkeeper.demo.runner": 1,
    "dbkeeper.demo.crud": 3,
    "dbkeeper.demo.backup": 6,
    "dbkeeper.demo.migrations": 1,
    # test support for the shipped servers (provisioning is moving into the plugins)
    "dbkeeper.testing.private_servers": 12,
    "dbkeeper.testing.pytest_plugin": 3,
    "dbkeeper.testing.servers": 6,
    "dbkeeper.testing.suite.sessions": 1,
}


def _modules() -> list[tuple[str, Path]]:
    """``(dotted module name, path)`` of every core module; names, not paths, so a move rewrites them."""
    found = []
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def _imported_roots(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _name_literals(tree: ast.AST) -> list[ast.Constant]:
    docs = _docstrings(tree)
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in DIALECT_NAMES
            and id(node) not in docs]


def test_the_core_imports_no_database_driver() -> None:
    offences = []
    for module, path in _modules():
        for line, root in _imported_roots(ast.parse(path.read_text())):
            if root in DRIVERS and not (root == "sqlite3" and module in CORE_SQLITE3):
                offences.append(f"{module}:{line} imports {root}")
    assert offences == [], "database drivers belong to the plugins:\n" + "\n".join(offences)


def test_every_listed_sqlite3_use_is_still_there() -> None:
    """The list of sqlite3 users stays exact: a module that stopped needing it leaves the list."""
    for module in CORE_SQLITE3:
        paths = dict(_modules())
        roots = {root for _, root in _imported_roots(ast.parse(paths[module].read_text()))}
        assert "sqlite3" in roots, f"{module} no longer imports sqlite3: remove it from CORE_SQLITE3"


def test_the_core_never_branches_on_a_dialect_name() -> None:
    offences = []
    for module, path in _modules():
        if module.startswith("dbkeeper.testing."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            names = [o for o in operands if isinstance(o, ast.Constant) and o.value in DIALECT_NAMES]
            asks_dialect = any(isinstance(o, ast.Attribute) and o.attr in {"name", "db_type"} for o in operands)
            if names and asks_dialect:
                offences.append(f"{module}:{node.lineno} compares with {names[0].value!r}")
    assert offences == [], "ask the dialect, not its name:\n" + "\n".join(offences)


def test_no_dialect_name_in_the_core_outside_the_install_hint_table() -> None:
    counts: Counter[str] = Counter()
    where: dict[str, list[str]] = {}
    for module, path in _modules():
        if module == INSTALL_HINT_TABLE:
            continue
        for node in _name_literals(ast.parse(path.read_text())):
            counts[module] += 1
            where.setdefault(module, []).append(f"{module}:{node.lineno} {node.value!r}")
    grown = {module: n for module, n in counts.items() if n > KNOWN_NAME_USES.get(module, 0)}
    assert grown == {}, "new dialect names in the core:\n" + "\n".join(
        line for module in grown for line in where[module])


def test_the_install_hint_table_is_the_only_dialect_table_in_the_plugin_registry() -> None:
    from dbkeeper.engine.plugins import KNOWN_SCHEMES

    tree = ast.parse(dict(_modules())[INSTALL_HINT_TABLE].read_text())
    literals = Counter(str(node.value) for node in _name_literals(tree))
    table = Counter([*KNOWN_SCHEMES, *KNOWN_SCHEMES.values()])
    assert literals == table, f"{INSTALL_HINT_TABLE} names dialects outside KNOWN_SCHEMES"
