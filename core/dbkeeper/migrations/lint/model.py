"""What the migration lint reports: rules, findings and the report of a run.

A :class:`Rule` carries the *why* and the *safe rewrite* once, so every
finding of it says what happens to a live table and what to write instead;
a finding may add a detail (the table, the algorithm the server chose) and
a rewrite specific to the statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ERROR", "INFO", "SEVERITIES", "WARNING", "Finding", "Hit", "LintReport", "Rule"]

INFO, WARNING, ERROR = "info", "warning", "error"
#: Severities from the mildest; ``--fail-on`` picks the lowest one that fails the run.
SEVERITIES = (INFO, WARNING, ERROR)


@dataclass(frozen=True)
class Rule:
    """One lint rule of a dialect: its id (used in ``lint-disable`` comments), why it matters, the fix."""

    id: str
    summary: str
    reason: str
    rewrite: str
    severity: str = WARNING


@dataclass(frozen=True)
class Hit:
    """A rule firing on one statement, as a dialect's rules return it (the runner adds where)."""

    rule: str
    detail: str = ""
    rewrite: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class Finding:
    """One problem found: which rule, in which migration, file, statement and line, and what to do."""

    rule: str
    severity: str
    migration_id: str
    file: str
    statement_index: int
    line: int
    statement: str
    summary: str
    reason: str
    rewrite: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "migration_id": self.migration_id,
                "file": self.file, "statement": self.statement_index, "line": self.line,
                "sql": self.statement, "summary": self.summary, "detail": self.detail,
                "reason": self.reason, "rewrite": self.rewrite}


@dataclass
class LintReport:
    """The findings of one lint run over some migrations, and how they were judged.

    ``target`` says what the rules assumed: the server version asked from
    ``--db``, or the one given with ``--target-version``, or the newest the
    rules know; ``online`` whether a database answered questions (table
    existence, sizes, the algorithms the server accepts).
    """

    dialect: str
    target: str
    online: bool
    linted: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    disabled: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {severity: sum(1 for f in self.findings if f.severity == severity) for severity in SEVERITIES}

    def fails(self, fail_on: str | None) -> bool:
        """Whether a finding at ``fail_on`` severity or worse exists (``None``: never fails)."""
        if fail_on is None:
            return False
        floor = SEVERITIES.index(fail_on)
        return any(SEVERITIES.index(f.severity) >= floor for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"dialect": self.dialect, "target": self.target, "online": self.online,
                "migrations": list(self.linted), "counts": self.counts(),
                "disabled": {k: list(v) for k, v in self.disabled.items()},
                "findings": [f.to_dict() for f in self.findings]}
