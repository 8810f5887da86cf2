"""Run a dialect's lint rules over migrations: split, tokenize, judge, honour ``lint-disable`` comments.

Statements are split by the dialect's own splitter
(``Dialect.split_statements``, built on :mod:`dbkeeper.sql.split`), the
same that runs them, so the lint sees exactly the statements ``migrate up``
will execute.

Disabling, in a migration's SQL (a comment, so the database ignores it):

- ``-- dbkeeper:lint-disable rule-id[, rule-id ...]``: for the whole file
  (every rule when no id is given);
- ``-- dbkeeper:lint-disable-next rule-id``: for the statement the comment
  precedes only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import import_module
from typing import TYPE_CHECKING

from dbkeeper.errors import ConfigurationError
from dbkeeper.migrations.lint.model import Finding, Hit, LintReport
from dbkeeper.migrations.lint.rules import LintRules, MigrationState, Statement

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.session import Session
    from dbkeeper.migrations.model import Migration

__all__ = ["ALL_RULES", "disabled_rules", "lint_migrations", "located", "rules_for"]

#: What a bare ``lint-disable`` (no rule named) disables.
ALL_RULES = "*"
_DISABLE = re.compile(r"(?:--|#|/\*)\s*dbkeeper:lint-disable(?P<next>-next)?\b(?P<ids>[ \t\w,-]*)", re.IGNORECASE)
_SHOWN = 200


def rules_for(dialect: Dialect, session: Session | None = None) -> LintRules:
    """The lint rules ``dialect``'s plugin names (``Dialect.migration_lint_rules``), else the empty base rules."""
    spec = getattr(type(dialect), "migration_lint_rules", None)
    cls: type[LintRules] = LintRules
    if isinstance(spec, str) and ":" in spec:
        module, _, name = spec.partition(":")
        found = getattr(import_module(module), name)
        if not (isinstance(found, type) and issubclass(found, LintRules)):
            raise ConfigurationError(f"{spec} (the lint rules of dialect {dialect.name!r}) is not a LintRules class")
        cls = found
    return cls(dialect, session)


def disabled_rules(text: str, *, next_only: bool = False) -> set[str]:
    """The rule ids ``lint-disable`` comments in ``text`` switch off (``*`` for all)."""
    found: set[str] = set()
    for match in _DISABLE.finditer(text):
        if bool(match.group("next")) != next_only:
            continue
        ids = {part for part in re.split(r"[\s,]+", match.group("ids").strip()) if part}
        found |= ids or {ALL_RULES}
    return found


def located(sql: str, statements: list[str]) -> list[tuple[str, int]]:
    """Each statement with the 1-based line of the file it starts on."""
    located = []
    pos = 0
    for text in statements:
        at = sql.find(text, pos)
        if at < 0:
            at = pos
        else:
            pos = at + len(text)
        located.append((text, sql.count("\n", 0, at) + 1))
    return located


def lint_migrations(migrations: Iterable[Migration], rules: LintRules) -> LintReport:
    """Judge every statement of ``migrations`` (in order) with ``rules``."""
    report = LintReport(dialect=rules.dialect.name, target=rules.target, online=rules.session is not None)
    for migration in migrations:
        report.linted.append(migration.id)
        sql = migration.sql
        off = disabled_rules(sql)
        if off:
            report.disabled[migration.id] = sorted(off)
        state = MigrationState(migration.id)
        hits: list[tuple[Statement, Hit, set[str]]] = []
        for index, (text, line) in enumerate(located(sql, rules.dialect.split_statements(sql)), start=1):
            statement = rules.statement(text, index, line)
            local = disabled_rules(text, next_only=True)
            hits += [(statement, hit, local) for hit in rules.check(statement, state)]
        hits += [(statement, hit, set()) for statement, hit in rules.finish(state)]
        for statement, hit, local in hits:
            if hit.rule in off or hit.rule in local or ALL_RULES in off or ALL_RULES in local:
                continue
            report.findings.append(_finding(rules, migration, statement, hit))
    report.target = rules.target
    return report


def _finding(rules: LintRules, migration: Migration, statement: Statement, hit: Hit) -> Finding:
    rule = rules.rule(hit.rule)
    shown = " ".join(statement.text.split())
    return Finding(rule=rule.id, severity=hit.severity or rule.severity, migration_id=migration.id,
                   file=migration.location, statement_index=statement.index, line=statement.line,
                   statement=shown if len(shown) <= _SHOWN else shown[:_SHOWN - 3] + "...",
                   summary=rule.summary, reason=rule.reason, rewrite=hit.rewrite or rule.rewrite, detail=hit.detail)
