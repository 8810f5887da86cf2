"""The dependency graph: validate a set of migrations and order them deterministically.

Validation happens before anything runs: a duplicate id, two ids that are
the same number spelled differently (``0001`` and ``01``: natural order
cannot tell which runs first, and people read them as one), a dependency on
an id no file defines, or a cycle raises an error that names the files
involved. The order is Kahn's topological sort where, among the migrations
whose dependencies are all placed, the one with the smallest id (in natural
order: ``2`` before ``10``) goes first. With no declared dependencies this is
simply id order; with them it is the same order on every machine.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from dbkeeper.migrations.errors import (
    DependencyCycleError,
    DuplicateMigrationError,
    MigrationNotFoundError,
    MissingDependencyError,
)
from dbkeeper.migrations.model import Migration

_RUNS = re.compile(r"(\d+)")


def natural_key(ident: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key comparing digit runs as numbers: ``0002 < 10 < 10a < 11``."""
    if ident.isdigit():  # the common case, without the regex
        return ((0, int(ident), ident),)
    parts: list[tuple[int, int, str]] = []
    for index, part in enumerate(_RUNS.split(ident)):
        if not part:
            continue
        if index % 2:
            parts.append((0, int(part), part))
        else:
            parts.append((1, 0, part))
    return tuple(parts)


@dataclass
class MigrationGraph:
    """A validated set of migrations in execution order.

    ``ordered`` is the topological order; ``by_id`` and ``position`` answer
    lookups in O(1) (validation of 10,000 migrations is linear).
    """

    ordered: list[Migration]
    by_id: dict[str, Migration] = field(init=False)
    position: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {m.id: m for m in self.ordered}
        self.position = {m.id: i for i, m in enumerate(self.ordered)}

    def __iter__(self) -> Iterator[Migration]:
        return iter(self.ordered)

    def __len__(self) -> int:
        return len(self.ordered)

    def __contains__(self, ident: object) -> bool:
        return ident in self.by_id

    def get(self, ident: str) -> Migration:
        """The migration ``ident``, or :class:`MigrationNotFoundError` listing near matches."""
        try:
            return self.by_id[ident]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(ident, list(self.by_id), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise MigrationNotFoundError(f"no migration with id {ident!r}{hint}") from None

    def dependents(self, ident: str) -> list[Migration]:
        """Migrations that depend on ``ident`` directly or transitively, in order."""
        found = {ident}
        result: list[Migration] = []
        for migration in self.ordered[self.position[ident] + 1:]:
            if any(dep in found for dep in migration.dependencies):
                found.add(migration.id)
                result.append(migration)
        return result

    def closure(self, ident: str) -> list[Migration]:
        """``ident`` and everything it depends on, transitively, in order."""
        needed = {ident}
        stack = [ident]
        while stack:
            for dep in self.by_id[stack.pop()].dependencies:
                if dep not in needed:
                    needed.add(dep)
                    stack.append(dep)
        return [m for m in self.ordered if m.id in needed]


def numeric_identity(ident: str) -> tuple[tuple[int, int | str], ...]:
    """What an id means once leading zeros are dropped: ``0001``, ``01`` and ``1`` are one id."""
    return tuple((kind, number if kind == 0 else text) for kind, number, text in natural_key(ident))


def build_graph(migrations: Iterable[Migration]) -> MigrationGraph:
    """Validate ``migrations`` and return them in deterministic topological order."""
    items = list(migrations)
    by_id: dict[str, Migration] = {}
    duplicates: dict[str, list[Migration]] = {}
    for migration in items:
        if migration.id in by_id:
            duplicates.setdefault(migration.id, [by_id[migration.id]]).append(migration)
        else:
            by_id[migration.id] = migration
    if duplicates:
        details = "; ".join(f"id {ident!r} is defined by {' and '.join(m.location for m in ms)}"
                            for ident, ms in sorted(duplicates.items()))
        raise DuplicateMigrationError(f"duplicate migration ids: {details}. Give each migration its own id")
    _refuse_equal_numbers(by_id)
    missing = [(m, dep) for m in items for dep in m.dependencies if dep not in by_id]
    if missing:
        details = "; ".join(f"{m.id} ({m.location}) depends on {dep!r}" for m, dep in missing)
        raise MissingDependencyError(f"missing dependencies: {details}, which no migration file defines")
    return MigrationGraph(_toposort(by_id))


def _refuse_equal_numbers(by_id: dict[str, Migration]) -> None:
    spellings: dict[tuple[tuple[int, int | str], ...], list[Migration]] = {}
    for ident, migration in by_id.items():
        spellings.setdefault(numeric_identity(ident), []).append(migration)
    clashes = [ms for ms in spellings.values() if len(ms) > 1]
    if clashes:
        details = "; ".join(" and ".join(f"{m.id!r} ({m.location})" for m in sorted(ms, key=lambda m: m.id))
                            for ms in clashes)
        raise DuplicateMigrationError(f"migration ids that are the same number: {details}. Their order is "
                                      "ambiguous; renumber one of them")


def _toposort(by_id: dict[str, Migration]) -> list[Migration]:
    remaining = {ident: len(set(m.dependencies)) for ident, m in by_id.items()}
    children: dict[str, list[str]] = {ident: [] for ident in by_id}
    for ident, migration in by_id.items():
        for dep in set(migration.dependencies):
            children[dep].append(ident)
    heap = [(natural_key(ident), ident) for ident, count in remaining.items() if count == 0]
    heapq.heapify(heap)
    ordered: list[Migration] = []
    while heap:
        _, ident = heapq.heappop(heap)
        ordered.append(by_id[ident])
        for child in children[ident]:
            remaining[child] -= 1
            if remaining[child] == 0:
                heapq.heappush(heap, (natural_key(child), child))
    if len(ordered) != len(by_id):
        stuck = {ident for ident, count in remaining.items() if count > 0}
        cycle = _find_cycle(by_id, stuck)
        path = " -> ".join(f"{ident} ({by_id[ident].location})" for ident in cycle)
        raise DependencyCycleError(f"dependency cycle: {path}; remove one of these dependencies")
    return ordered


def _find_cycle(by_id: dict[str, Migration], stuck: set[str]) -> Sequence[str]:
    """One cycle among the ``stuck`` migrations, as a closed path ``a -> b -> a``."""
    start = min(stuck, key=natural_key)
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min((d for d in by_id[node].dependencies if d in stuck), key=natural_key)
    return [*path[seen[node]:], node]
