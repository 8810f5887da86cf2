"""SQLite's migration lint rules: table rebuilds, and the ALTERs SQLite refuses or runs by rewriting the table.

Named by ``SQLiteDialect.migration_lint_rules``; run by ``dbkeeper migrate
lint`` (:mod:`dbkeeper.migrations.lint`). SQLite's ``ALTER TABLE`` does
only ``RENAME TO``, ``RENAME COLUMN`` (3.25+), ``ADD COLUMN`` and ``DROP
COLUMN`` (3.35+, which rewrites every row); anything else is the
twelve-step rebuild of https://sqlite.org/lang_altertable.html (new table,
copy, drop, rename), which holds the database's write lock while every row
is copied and drops the old table's indexes and triggers with it. With
``--db`` the rules read the library's version and name the indexes and
triggers a rebuild drops without recreating.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, ClassVar

from dbkeeper.migrations.lint.model import ERROR, Hit, Rule
from dbkeeper.migrations.lint.rules import LintRules, MigrationState, Statement
from dbkeeper.migrations.lint.tokens import alter_table, created_table, name_at

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.session import Session

__all__ = ["SQLiteLintRules"]

_NON_CONSTANT = frozenset({"CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"})


class SQLiteLintRules(LintRules):
    """The SQLite rules (see the module docstring)."""

    dialect_name = "sqlite"
    brackets = True
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("table-rebuild", "the migration rebuilds a table (create, copy, drop, rename)",
             "Copying every row holds SQLite's write lock for the whole copy (every writer waits or gets "
             "SQLITE_BUSY); dropping the old table drops its indexes and triggers, and with foreign keys on, "
             "DROP TABLE deletes the rows children reference (ON DELETE CASCADE fires).",
             "Keep the order of sqlite.org/lang_altertable.html: PRAGMA foreign_keys=OFF first, create the new "
             "table, copy, drop, rename, recreate every index and trigger of the old table, PRAGMA "
             "foreign_key_check, PRAGMA foreign_keys=ON; run it when writers can wait for the copy."),
        Rule("rebuild-drops-objects", "a rebuild drops indexes or triggers it does not recreate",
             "DROP TABLE removes the table's indexes and triggers; the rebuilt table has none of them, so queries "
             "slow down and trigger logic silently stops.",
             "Recreate each listed index and trigger after the rename, with its original definition "
             "(sqlite_schema.sql).", ERROR),
        Rule("drop-column-rewrite", "DROP COLUMN rewrites the table",
             "SQLite 3.35+ drops a column by rewriting every row of the table under the write lock; older "
             "versions refuse DROP COLUMN.",
             "Fine on small tables; on large ones schedule it, or leave the column unused."),
        Rule("unsupported-alter", "an ALTER TABLE form SQLite does not have",
             "SQLite's ALTER TABLE only renames tables and columns and adds or drops columns (DROP COLUMN from "
             "3.35, RENAME COLUMN from 3.25); this statement fails.",
             "Rebuild the table (sqlite.org/lang_altertable.html, section 7): create the new shape, copy, drop, "
             "rename, recreate indexes and triggers.", ERROR),
        Rule("add-column-refused", "ADD COLUMN that SQLite refuses",
             "SQLite cannot add a PRIMARY KEY or UNIQUE column, a NOT NULL column without a non-NULL default, "
             "or a column whose default is not constant (CURRENT_TIMESTAMP, an expression in parentheses) to a "
             "table that has rows; the statement fails.",
             "Give the column a constant default, or rebuild the table; add a unique index separately.", ERROR),
    )

    def __init__(self, dialect: Dialect, session: Session | None = None) -> None:
        self.version: tuple[int, ...] = (3, 50)
        super().__init__(dialect, session)
        if session is None:
            self.target = "SQLite 3.50 (newest known; give --target-version)"

    def read_server(self, session: Session) -> None:
        text = str(next(iter(session.execute("SELECT sqlite_version()").rows[0].values())))
        self.version = tuple(int(n) for n in text.split(".")[:3])
        self.target = f"SQLite {text} (asked the library)"

    def assume_target(self, text: str) -> None:
        numbers = tuple(int(n) for n in re.findall(r"\d+", text)[:3])
        if len(numbers) < 2:
            raise ValueError(f"not an SQLite version: {text!r} (write e.g. 3.35)")
        self.version = numbers
        self.target = f"SQLite {'.'.join(map(str, numbers))} (--target-version)"

    def check(self, statement: Statement, state: MigrationState) -> list[Hit]:
        tokens = statement.tokens
        if not tokens:
            return []
        made = created_table(tokens)
        copies: dict[str, tuple[str, Statement]] = state.notes.setdefault("copies", {})
        if made is not None:
            state.created.add(made)
            return []
        head = statement.words(3)
        if head[:2] == ["INSERT", "INTO"] or head[:3] == ["INSERT", "OR", "REPLACE"]:
            at = 2 if head[1] == "INTO" else 4
            target = name_at(tokens, at)[0]
            source = next((name_at(tokens, i + 1)[0] for i, t in enumerate(tokens) if t.is_word("FROM")), None)
            if target in state.created and source and source not in state.created:
                copies[source] = (target, statement)
            return []
        if head[:2] == ["DROP", "TABLE"]:
            at = 4 if head[2:3] == ["IF"] else 2
            dropped = name_at(tokens, at)[0]
            if dropped in copies:
                state.notes.setdefault("rebuilt", {})[dropped] = copies[dropped]
                return [Hit("table-rebuild", f"table {dropped} is copied into {copies[dropped][0]} and dropped")]
            return []
        if head[:2] == ["CREATE", "INDEX"] or head[:3] == ["CREATE", "UNIQUE", "INDEX"] or \
                head[:2] == ["CREATE", "TRIGGER"]:
            state.notes.setdefault("recreated", []).append(statement.text.lower())
            return []
        altered = alter_table(tokens)
        if altered is None:
            return []
        table, actions = altered
        words = [t.upper for t in actions[0]] if actions else []
        if not words:
            return []
        if words[0] == "RENAME":
            if len(words) > 1 and words[1] != "TO" and self.version < (3, 25):
                return [Hit("unsupported-alter", f"RENAME COLUMN needs SQLite 3.25 (target {self._shown()})")]
            return []
        if words[0] == "DROP":
            if self.version < (3, 35):
                return [Hit("unsupported-alter", f"DROP COLUMN needs SQLite 3.35 (target {self._shown()})")]
            return [] if table in state.created else [Hit("drop-column-rewrite", f"table {table}")]
        if words[0] == "ADD" and (len(words) < 2 or words[1] not in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK",
                                                                      "FOREIGN")):
            return self._add_column(table, words)
        return [Hit("unsupported-alter", f"ALTER TABLE {table} {' '.join(w for w in words[:3] if w)}")]

    def _add_column(self, table: str, words: list[str]) -> list[Hit]:
        if "PRIMARY" in words or "UNIQUE" in words:
            return [Hit("add-column-refused", f"table {table}: a PRIMARY KEY or UNIQUE column")]
        pairs = list(itertools.pairwise(words))
        default = words[words.index("DEFAULT") + 1] if "DEFAULT" in words[:-1] else None
        if ("NOT", "NULL") in pairs and (default is None or default == "NULL"):
            return [Hit("add-column-refused", f"table {table}: NOT NULL without a non-NULL default")]
        if default in _NON_CONSTANT or default == "":
            return [Hit("add-column-refused", f"table {table}: default {default or '(expression)'} is not "
                         "constant")] if default in _NON_CONSTANT else []
        return []

    def finish(self, state: MigrationState) -> list[tuple[Statement, Hit]]:
        rebuilt: dict[str, tuple[str, Statement]] = state.notes.get("rebuilt", {})
        if self.session is None or not rebuilt:
            return []
        recreated = " ".join(state.notes.get("recreated", []))
        found: list[tuple[Statement, Hit]] = []
        for table, (_, statement) in rebuilt.items():
            rows = self.session.execute(
                "SELECT type, name FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
                "AND sql IS NOT NULL", (table,)).rows
            pairs = [list(r.values())[:2] for r in rows]
            lost = [f"{kind} {name}" for kind, name in pairs if str(name).lower() not in recreated]
            if lost:
                found.append((statement, Hit("rebuild-drops-objects", f"table {table}: {', '.join(lost)}")))
        return found

    def _shown(self) -> str:
        return ".".join(map(str, self.version))
