"""``dbkeeper migrate lint``: what each pending migration would do to a live table, and the safe rewrite.

The rules belong to the dialects (each plugin's ``migration_lint.py``,
named by ``Dialect.migration_lint_rules``); the core splits the
migrations, feeds the statements through them and reports.
See ``docs/migrations.md`` ("Linting migrations").
"""

from __future__ import annotations

from dbkeeper.migrations.lint.model import ERROR, INFO, WARNING, Finding, Hit, LintReport, Rule
from dbkeeper.migrations.lint.rules import LintRules, MigrationState, Statement
from dbkeeper.migrations.lint.runner import disabled_rules, lint_migrations, rules_for

__all__ = ["ERROR", "INFO", "WARNING", "Finding", "Hit", "LintReport", "LintRules", "MigrationState", "Rule",
           "Statement", "disabled_rules", "lint_migrations", "rules_for"]
