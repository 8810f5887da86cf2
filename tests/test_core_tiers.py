"""The core's tiers and import circles, read from the source with ``ast`` (issue #18's contract, run in CI).

Every import counts: top level, inside functions and under ``TYPE_CHECKING``,
since a type-only import still ties the two modules together for a reader and
for a refactoring. ``from package import module`` is an import of that module
(as grimp and import-linter count it).

* **Tiers.** ``docs/architecture.md`` ("Tiers") orders the core's folders; a
  module imports only its own tier and those below it. The imports that still
  point upward are listed in :data:`KNOWN_UPWARD` with the reason. That list is
  a ratchet: an entry that disappears must be removed (so the list stays true),
  and no new upward import may appear.
* **Circles.** No import circle in the core or a shipped plugin, except the
  ones in :data:`KNOWN_CIRCLES`; a known circle may shrink (lower its members),
  never grow, and no new one may appear.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The core, each shipped plugin, and the DuckDB plugin written from the guide (tests/third_party).
SOURCES = [ROOT / "core", *sorted(p for p in (ROOT / "plugins").iterdir() if p.is_dir()),
           ROOT / "tests" / "third_party"]

#: The tier of each folder of ``core/dbkeeper`` (root modules are the base, tier 0; the package face is on top).
TIERS: dict[str, int] = {
    "sql": 1, "contract": 2, "crud": 3, "engine": 4,
    "backup": 5, "migrations": 5, "schema": 5, "monitoring": 5, "lifecycle": 5,
    "testing": 6, "demo": 7, "cli": 8,
}
FACE_TIER = 9

#: Imports that still point to a higher tier, each with why; remove an entry when its import goes.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}

#: Import circles still open, as the set of their modules; each may only shrink. None is left: keep it so.
KNOWN_CIRCLES: list[frozenset[str]] = []


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            parts = path.relative_to(source).with_suffix("").parts
            if not parts[0].startswith("dbkeeper"):
                continue  # a plugin's tests, build files
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (any kind of import, see the module docstring)."""
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for imported in targets:
                target = imported
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def _circles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start, first_children in edges.items():
        if start in index:
            continue
        work = [(start, iter(sorted(first_children)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _tier(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "dbkeeper":
        return None  # a plugin: its own package, above the core
    if len(parts) == 1:
        return FACE_TIER
    return TIERS.get(parts[1], 0)


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    return _imports(_modules())


def test_every_core_folder_has_a_tier() -> None:
    folders = {p.name for p in (ROOT / "core" / "dbkeeper").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(TIERS), "a new folder needs its tier here and in docs/architecture.md"


def test_the_root_holds_only_base_modules_and_the_face() -> None:
    root = {p.stem for p in (ROOT / "core" / "dbkeeper").glob("*.py")}
    assert root == {"__init__", "_exports", "_version", "errors", "exceptions", "urls", "redaction",
                    "child_env", "result", "config", "workspace"}


def test_no_new_import_points_to_a_higher_tier(edges: dict[str, set[str]]) -> None:
    upward = {(a, b) for a, targets in edges.items() for b in targets
              if (ta := _tier(a)) is not None and (tb := _tier(b)) is not None and tb > ta}
    assert upward - set(KNOWN_UPWARD) == set(), "an import points up a tier (see docs/architecture.md, Tiers)"
    assert set(KNOWN_UPWARD) - upward == set(), "this upward import is gone: remove it from KNOWN_UPWARD"


def test_every_plugin_package_is_checked(edges: dict[str, set[str]]) -> None:
    """The circle check covers each plugin's package, not only the core (a plugin has no tier, but no circle)."""
    packages = {p.name for source in SOURCES[1:] for p in source.glob("dbkeeper_*") if (p / "__init__.py").exists()}
    assert {"dbkeeper_sqlite", "dbkeeper_postgres", "dbkeeper_mysql", "dbkeeper_redis", "dbkeeper_duckdb"} <= packages
    assert packages <= set(edges), "a plugin package the checker does not read"


def test_no_new_import_circle(edges: dict[str, set[str]]) -> None:
    for circle in _circles(edges):
        known = [k for k in KNOWN_CIRCLES if circle <= k]
        assert known, f"a new import circle: {sorted(circle)}"


def test_known_circles_are_still_listed_exactly(edges: dict[str, set[str]]) -> None:
    circles = _circles(edges)
    for known in KNOWN_CIRCLES:
        assert known in circles, "this circle shrank or closed: update KNOWN_CIRCLES to what is left"


def test_the_checker_sees_a_circle_and_an_upward_import() -> None:
    """The checker itself: a made-up pair that imports each other is a circle, base -> engine is upward."""
    edges = {"dbkeeper.errors": {"dbkeeper.engine.pool"}, "dbkeeper.engine.pool": {"dbkeeper.errors"}}
    assert _circles(edges) == [frozenset(edges)]
    assert _tier("dbkeeper.engine.pool") > _tier("dbkeeper.errors")  # type: ignore[operator]
