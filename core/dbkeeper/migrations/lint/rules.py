"""The base class a dialect's lint rules subclass, and the state they share within one migration.

The core knows no database: each shipped plugin writes a
:class:`LintRules` subclass in its own package (``migration_lint.py``) and
names it from its ``Dialect`` subclass with one class attribute,
``migration_lint_rules = "package.module:Class"``, imported only when
``dbkeeper migrate lint`` runs. A dialect without one gets this base class,
which knows no rule and finds nothing: linting is advice, never a gate a
database can fail by being unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dbkeeper.migrations.lint.model import Hit, Rule
from dbkeeper.migrations.lint.tokens import Token, tokenize

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.session import Session

__all__ = ["LintRules", "MigrationState", "Statement"]


@dataclass(frozen=True)
class Statement:
    """One statement of a migration: its text, 1-based position, first line in the file and tokens."""

    text: str
    index: int
    line: int
    tokens: list[Token]

    def words(self, limit: int = 8) -> list[str]:
        """The first ``limit`` tokens upper-cased (names and literals as empty strings)."""
        return [t.upper for t in self.tokens[:limit]]


@dataclass
class MigrationState:
    """What earlier statements of the same migration did, which changes how later ones are judged.

    ``created`` holds tables made in this migration (new and empty, so an
    index on them needs no ``CONCURRENTLY``); ``settings`` the session
    settings the migration made (``lock_timeout``); ``notes`` is free for a
    dialect's rules (validated constraints, a rebuild in progress).
    """

    migration_id: str
    created: set[str] = field(default_factory=set)
    settings: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)


class LintRules:
    """The rules of one dialect. Subclasses set :attr:`dialect_name` and :attr:`RULES` and override :meth:`check`.

    One instance lints one run. With a database (``session``), :meth:`read_server`
    fills in what the server is (version, flavour, settings) and the rules may
    ask it about tables; without one, :meth:`assume_target` reads a
    ``--target-version`` string and the rules judge from the text alone.
    """

    dialect_name: ClassVar[str] = ""
    RULES: ClassVar[tuple[Rule, ...]] = ()
    #: Token options for :func:`~dbkeeper.migrations.lint.tokens.tokenize`.
    brackets: ClassVar[bool] = False
    hash_comments: ClassVar[bool] = False

    def __init__(self, dialect: Dialect, session: Session | None = None) -> None:
        self.dialect = dialect
        self.session = session
        self.target = "newest known"
        if session is not None:
            self.read_server(session)

    # -- what the server is ---------------------------------------------------------------------------
    def read_server(self, session: Session) -> None:
        """Learn the server's version and settings from ``session`` (the base learns nothing)."""

    def assume_target(self, text: str) -> None:
        """Judge as for server version ``text`` (``--target-version``); the base ignores it."""
        self.target = text

    # -- the rules ---------------------------------------------------------------------------------------
    def rule(self, rule_id: str) -> Rule:
        for rule in self.RULES:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def statement(self, text: str, index: int, line: int) -> Statement:
        return Statement(text, index, line, tokenize(text, brackets=self.brackets, hash_comments=self.hash_comments))

    def check(self, statement: Statement, state: MigrationState) -> list[Hit]:
        """The rules ``statement`` breaks, given what the migration did before it."""
        return []

    def finish(self, state: MigrationState) -> list[tuple[Statement, Hit]]:
        """Findings only the whole migration shows (called after its last statement); none by default."""
        return []

    def close(self) -> None:
        """Release what the rules made to ask the server (scratch tables); nothing by default."""
