"""The retention policy: which backups ``prune`` keeps, as a pure function.

Kept apart from the catalog and the file system so that its two promises
can be checked exhaustively with property tests:

* a chain is never broken: every backup a kept backup depends on (its
  parent and every backup it references chunks from, transitively) is kept;
* pinned backups always survive.

The rules follow the usual grandfather-father-son scheme (as in borg and
restic): ``keep_last`` keeps the newest *n*; ``keep_daily`` keeps the newest
backup of each of the newest *n* days that have one (UTC), ``keep_weekly``
of each ISO week, ``keep_monthly`` of each calendar month. A backup kept by
any rule is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class BackupNode:
    """What the policy needs to know of one backup."""

    backup_id: str
    created_at: datetime
    depends_on: frozenset[str] = frozenset()
    pinned: bool = False


@dataclass
class RetentionPlan:
    """The outcome: ids to keep (with why) and ids to delete, dependents first."""

    keep: dict[str, list[str]] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)


def _newest_first(nodes: Iterable[BackupNode]) -> list[BackupNode]:
    return sorted(nodes, key=lambda n: (n.created_at, n.backup_id), reverse=True)


def _by_period(ordered: list[BackupNode], count: int, period: Callable[[datetime], Hashable]) -> list[str]:
    """The newest backup of each of the newest ``count`` periods that have one."""
    seen: set[Hashable] = set()
    kept: list[str] = []
    for node in ordered:
        key = period(node.created_at)
        if key in seen:
            continue
        if len(seen) >= count:
            break
        seen.add(key)
        kept.append(node.backup_id)
    return kept


def _closure(start: Iterable[str], nodes: Mapping[str, BackupNode]) -> set[str]:
    """``start`` plus everything it depends on, transitively (unknown ids are ignored)."""
    result: set[str] = set()
    stack = list(start)
    while stack:
        current = stack.pop()
        if current in result or current not in nodes:
            continue
        result.add(current)
        stack.extend(nodes[current].depends_on)
    return result


def check_policy(*, keep_last: int | None = None, keep_daily: int | None = None, keep_weekly: int | None = None,
                 keep_monthly: int | None = None) -> None:
    """Refuse a policy that cannot be what was meant, with a :class:`ValueError` naming the rule.

    No rule at all, a negative count, or rules that are all zero: each would
    delete every unpinned backup (``--keep-last 0`` did exactly that).
    """
    rules = {"keep_last": keep_last, "keep_daily": keep_daily, "keep_weekly": keep_weekly,
             "keep_monthly": keep_monthly}
    given = {name: value for name, value in rules.items() if value is not None}
    if not given:
        raise ValueError("a retention policy needs at least one of keep_last, keep_daily, keep_weekly, "
                         "keep_monthly")
    for name, value in given.items():
        if value < 0:
            raise ValueError(f"{name} must be zero or more, not {value}")
    if not any(given.values()):
        listed = ", ".join(f"{name}=0" for name in given)
        raise ValueError(f"{listed} keeps nothing: that policy would delete every unpinned backup; keep at "
                         "least 1 (delete backups one by one with `dbkeeper backup delete`)")


def plan_retention(nodes: Iterable[BackupNode], *, keep_last: int | None = None, keep_daily: int | None = None,
                   keep_weekly: int | None = None, keep_monthly: int | None = None) -> RetentionPlan:
    """Decide which of ``nodes`` to keep and which to delete.

    The policy must pass :func:`check_policy`: at least one rule, no
    negative count, not every rule zero.
    """
    check_policy(keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly, keep_monthly=keep_monthly)
    by_id = {n.backup_id: n for n in nodes}
    ordered = _newest_first(by_id.values())
    reasons: dict[str, list[str]] = {}

    def mark(ids: Iterable[str], reason: str) -> None:
        for backup_id in ids:
            reasons.setdefault(backup_id, []).append(reason)

    if keep_last:
        mark((n.backup_id for n in ordered[:keep_last]), "last")
    if keep_daily:
        mark(_by_period(ordered, keep_daily, lambda d: d.date()), "daily")
    if keep_weekly:
        mark(_by_period(ordered, keep_weekly, lambda d: d.isocalendar()[:2]), "weekly")
    if keep_monthly:
        mark(_by_period(ordered, keep_monthly, lambda d: (d.year, d.month)), "monthly")
    mark((n.backup_id for n in ordered if n.pinned), "pinned")
    chosen = set(reasons)
    for backup_id in _closure(chosen, by_id) - chosen:
        reasons[backup_id] = ["needed by a kept backup"]
    plan = RetentionPlan(keep={k: reasons[k] for k in (n.backup_id for n in ordered) if k in reasons})
    plan.delete = dependents_first((n.backup_id for n in ordered if n.backup_id not in reasons), by_id)
    return plan


def dependents_first(ids: Iterable[str], nodes: Mapping[str, BackupNode]) -> list[str]:
    """Order ``ids`` so that every backup comes before the backups it depends on."""
    pending = set(ids)
    ordered: list[str] = []
    while pending:
        # A backup no other pending backup depends on can go now.
        needed = {d for p in pending for d in nodes[p].depends_on} if nodes else set()
        ready = sorted(pending - needed, key=lambda i: (nodes[i].created_at, i), reverse=True)
        if not ready:  # a cycle cannot come from the catalog; fall back to newest first
            ready = sorted(pending, key=lambda i: (nodes[i].created_at, i), reverse=True)
        ordered.extend(ready)
        pending -= set(ready)
    return ordered
