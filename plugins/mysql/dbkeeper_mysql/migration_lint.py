"""MySQL's and MariaDB's migration lint rules: which algorithm each ``ALTER TABLE`` gets, and what it locks.

Named by ``MySQLDialect.migration_lint_rules``; run by ``dbkeeper migrate
lint`` (:mod:`dbkeeper.migrations.lint`). InnoDB runs an ``ALTER`` one of
three ways: ``INSTANT`` (a metadata change), ``INPLACE`` (built in place;
with ``LOCK=NONE`` writes go on, though a *rebuild* still rewrites every row
and lags replicas), or ``COPY`` (a new table filled row by row while writes
wait). Which one depends on the operation *and the server version*: MySQL
8.0.12 made adding a last column instant, 8.0.29 any column and dropping
one; MariaDB 10.3 the last column, 10.4 any column, dropping, and widening a
``VARCHAR``.

Offline the rules use that table of versions. With ``--db`` they ask the
server itself: each ``ALTER`` on an existing table is tried on an empty
copy of the table (``CREATE TABLE ... LIKE`` in a scratch database, dropped
at the end) with ``ALGORITHM=INSTANT``, then ``NOCOPY`` (MariaDB),
``INPLACE, LOCK=NONE``, ``INPLACE``; the first the server accepts is the
answer, exact for that server version and that table. They also read
whether the server is a Galera node replicating DDL in total order
(``wsrep_OSU_method=TOI``), where an ``ALTER`` of a large table stalls
every node of the cluster.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from dbkeeper.errors import DbKeeperError
from dbkeeper.migrations.lint.model import INFO, Hit, Rule
from dbkeeper.migrations.lint.rules import LintRules, MigrationState, Statement
from dbkeeper.migrations.lint.tokens import Token, alter_table, created_table, name_at

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.session import Session

__all__ = ["Algorithm", "MySQLLintRules", "classify"]

INSTANT, NOCOPY, INPLACE, COPY = "INSTANT", "NOCOPY", "INPLACE", "COPY"
_ORDER = (INSTANT, NOCOPY, INPLACE, COPY)
#: A table this large (rows or bytes) makes a TOI ``ALTER`` a cluster-wide stall worth a warning.
GALERA_LARGE_ROWS = 1_000_000
GALERA_LARGE_BYTES = 1 << 30
_NOT_SUPPORTED = re.compile(r"not supported|ALGORITHM=|LOCK=", re.IGNORECASE)
_SKIP = frozenset({"ONLINE", "IGNORE", "OFFLINE"})


@dataclass(frozen=True)
class Algorithm:
    """How the server runs an ALTER: the algorithm, whether writes go on (``lock_none``), whether rows are rewritten."""

    algorithm: str
    lock_none: bool
    rebuild: bool
    why: str = ""
    asked: bool = False

    def worst(self, other: Algorithm) -> Algorithm:
        mine, theirs = _ORDER.index(self.algorithm), _ORDER.index(other.algorithm)
        base = self if mine >= theirs else other
        return Algorithm(base.algorithm, self.lock_none and other.lock_none, self.rebuild or other.rebuild,
                         "; ".join(w for w in (self.why, other.why) if w), self.asked or other.asked)


def classify(action: list[Token], *, mariadb: bool, version: tuple[int, ...]) -> Algorithm | None:
    """What InnoDB does for one ``ALTER TABLE`` action on this server version; ``None`` when it cannot tell."""
    words = [t.upper for t in action]
    first = words[0]
    second = words[1] if len(words) > 1 else ""
    if first in ("ALGORITHM", "LOCK"):
        return None
    if first == "ADD":
        kind = words[2] if second == "CONSTRAINT" and len(words) > 2 else second
        if second == "CONSTRAINT" and len(words) > 3 and words[3] in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
            kind = words[3]
        if kind in ("INDEX", "KEY", "UNIQUE"):
            return Algorithm(INPLACE, True, False, "secondary index build")
        if kind in ("FULLTEXT", "SPATIAL"):
            return Algorithm(INPLACE, False, kind == "FULLTEXT", f"{kind.lower()} index: writes blocked")
        if kind == "PRIMARY":
            return Algorithm(INPLACE, True, True, "primary key: the clustered index is rebuilt")
        if kind == "FOREIGN":
            return Algorithm(COPY, False, True, "foreign key: INPLACE only with foreign_key_checks=0")
        if kind == "CHECK":
            return Algorithm(COPY, False, True, "check constraint: every row is checked in a copy")
        return _add_column(words, mariadb=mariadb, version=version)
    if first == "DROP":
        if second in ("INDEX", "KEY") or (second == "FOREIGN"):
            return Algorithm(INPLACE, True, False, "metadata only")
        if second == "PRIMARY":
            return Algorithm(COPY, False, True, "dropping the primary key without adding one copies the table")
        if second in ("CHECK", "CONSTRAINT"):
            return Algorithm(INSTANT if mariadb or version >= (8, 0, 19) else INPLACE, True, False)
        instant = version >= ((10, 4) if mariadb else (8, 0, 29))
        return Algorithm(INSTANT, True, False) if instant else Algorithm(INPLACE, True, True, "drop column rebuilds")
    if first == "RENAME":
        if second in ("INDEX", "KEY"):
            return Algorithm(INPLACE if not mariadb else INSTANT, True, False)
        if second == "COLUMN":
            instant = version >= ((10, 5) if mariadb else (8, 0, 28))
            return Algorithm(INSTANT if instant else INPLACE, True, False)
        return Algorithm(INSTANT, True, False, "rename table")
    if first == "ALTER" and ("DEFAULT" in words):
        return Algorithm(INSTANT, True, False)
    if first in ("MODIFY", "CHANGE"):
        return Algorithm(COPY, False, True, "a column definition change copies the table unless only the name, "
                         "default, or a VARCHAR length within the same length bytes changes")
    if first == "CONVERT":
        return Algorithm(COPY, False, True, "character set conversion")
    if first in ("ENGINE", "FORCE", "ROW_FORMAT", "KEY_BLOCK_SIZE"):
        return Algorithm(INPLACE, True, True, "table rebuild")
    return None


def _add_column(words: list[str], *, mariadb: bool, version: tuple[int, ...]) -> Algorithm:
    if "AUTO_INCREMENT" in words:
        return Algorithm(COPY, False, True, "adding an AUTO_INCREMENT column fills every row")
    if "STORED" in words or "PERSISTENT" in words:
        return Algorithm(COPY, False, True, "a stored generated column is computed for every row")
    positioned = "FIRST" in words or "AFTER" in words
    if mariadb:
        instant = version >= (10, 4) or (version >= (10, 3) and not positioned)
    else:
        instant = version >= (8, 0, 29) or (version >= (8, 0, 12) and not positioned)
    if instant:
        return Algorithm(INSTANT, True, False)
    return Algorithm(INPLACE, True, True, "adding a column rebuilds the table on this version")


class MySQLLintRules(LintRules):
    """The MySQL/MariaDB rules (see the module docstring)."""

    dialect_name = "mysql"
    hash_comments = True
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("alter-table-copy", "ALTER TABLE runs as ALGORITHM=COPY",
             "The server builds a new copy of the table row by row while writes wait (LOCK=SHARED) and needs free "
             "disk for a second copy; on a large table that is minutes to hours of blocked writes.",
             "Split the change so each part runs INSTANT or INPLACE, LOCK=NONE (add a new column instead of "
             "retyping one; index builds on their own), or run it with pt-online-schema-change or gh-ost. Stating "
             "ALGORITHM=INPLACE, LOCK=NONE makes the server refuse rather than copy."),
        Rule("alter-table-blocks-writes", "ALTER TABLE cannot run with LOCK=NONE",
             "The operation runs in place but with a shared lock: reads go on, writes wait until it ends.",
             "Run it in a quiet window, or with pt-online-schema-change or gh-ost."),
        Rule("alter-table-rebuild", "ALTER TABLE rebuilds the table (online)",
             "INPLACE with LOCK=NONE keeps writes going, but every row is rewritten: it takes time and disk "
             "proportional to the table, and replicas apply it afterwards in one go (replication lag).",
             "Fine for small tables; for large ones schedule it, or use an INSTANT form where the server has one.",
             INFO),
        Rule("alter-table-algorithm", "ALTER TABLE does not state ALGORITHM/LOCK",
             "The server silently falls back to a slower algorithm when the fast one is not possible (a copy with "
             "writes blocked), so a migration that was instant in review can lock production.",
             "Append the algorithm the server can use (shown in the detail), e.g. `, ALGORITHM=INSTANT`: the "
             "server then refuses instead of falling back.", INFO),
        Rule("galera-toi-large-table", "ALTER of a large table on a Galera cluster in TOI mode",
             "With wsrep_OSU_method=TOI every node runs the ALTER at the same point of the replication stream: "
             "the whole cluster stops applying writes until the ALTER ends on the slowest node.",
             "Use an INSTANT form; or switch the session to RSU (SET SESSION wsrep_OSU_method='RSU') and run it "
             "node by node (only for backward-compatible changes); or use pt-online-schema-change."),
        Rule("renaming-column", "RENAME COLUMN / CHANGE to a new name breaks running code",
             "Application instances still on the previous release query the old name and fail once it commits.",
             "Add the new column, write both, backfill, move readers, drop the old one in a later release."),
        Rule("renaming-table", "RENAME TABLE breaks running code",
             "Application instances still on the previous release query the old table name and fail.",
             "Rename in a release where no running code uses the old name, or keep a view with the old name "
             "for one release."),
    )

    def __init__(self, dialect: Dialect, session: Session | None = None) -> None:
        self.mariadb = True
        self.version: tuple[int, ...] = (11, 8)
        self.galera_toi = False
        self.database: str | None = None
        self._scratch: str | None = None
        self._tables: dict[str, tuple[int, int] | None] = {}
        super().__init__(dialect, session)
        if session is None:
            self.target = "MariaDB 11.8 / MySQL 8.4 (newest known; give --target-version)"

    # -- the server -----------------------------------------------------------------------------------
    def read_server(self, session: Session) -> None:
        text = str(next(iter(session.execute("SELECT VERSION()").rows[0].values())))
        self._parse(text)
        self.target = f"{'MariaDB' if self.mariadb else 'MySQL'} {'.'.join(map(str, self.version))} (asked the server)"
        self.database = str(next(iter(session.execute("SELECT DATABASE()").rows[0].values())))
        settings = {str(k).lower(): str(v) for k, v in (list(r.values())[:2] for r in session.execute(
            "SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_OSU_method')").rows)}
        self.galera_toi = settings.get("wsrep_on", "OFF").upper() == "ON" and \
            settings.get("wsrep_osu_method", "TOI").upper() == "TOI"

    def _parse(self, text: str) -> None:
        numbers = tuple(int(n) for n in re.findall(r"\d+", text)[:3])
        if not numbers:
            raise ValueError(f"not a MySQL or MariaDB version: {text!r} (write e.g. mysql-8.0.29 or mariadb-10.11)")
        self.version = numbers
        lowered = text.lower()
        self.mariadb = "mariadb" in lowered or ("mysql" not in lowered and numbers[0] >= 10)

    def assume_target(self, text: str) -> None:
        self._parse(text)
        self.target = f"{'MariaDB' if self.mariadb else 'MySQL'} {'.'.join(map(str, self.version))} (--target-version)"

    def _table(self, table: str) -> tuple[int, int] | None:
        """``(rows, bytes)`` of an existing base table, ``None`` when it does not exist (offline: unknown, 0s)."""
        if self.session is None:
            return (0, 0)
        if table not in self._tables:
            rows = self.session.execute(
                "SELECT COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) FROM "
                "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
                "AND TABLE_TYPE = 'BASE TABLE'", (table,)).rows
            values = list(rows[0].values()) if rows else []
            self._tables[table] = (int(values[0]), int(values[1])) if rows else None
        return self._tables[table]

    # -- the rules ------------------------------------------------------------------------------------
    def check(self, statement: Statement, state: MigrationState) -> list[Hit]:
        tokens = statement.tokens
        made = created_table(tokens)
        if made is not None:
            state.created.add(made)
            return []
        head = statement.words(3)
        if head[:2] == ["RENAME", "TABLE"]:
            table = name_at(tokens, 2)[0]
            return [] if table in state.created else [Hit("renaming-table", f"table {table}")]
        if head[:1] == ["CREATE"] and "INDEX" in head[1:3]:
            return self._create_index(tokens, state)
        altered = alter_table(tokens, skip=_SKIP)
        if altered is None:
            return []
        table, actions = altered
        if table in state.created:
            return []
        size = self._table(table)
        if size is None:
            return []  # made by an earlier pending migration: empty when this one runs
        hits: list[Hit] = []
        for action in actions:
            words = [t.upper for t in action]
            if words[0] == "RENAME" and len(words) > 1 and words[1] in ("TO", "AS"):
                hits.append(Hit("renaming-table", f"table {table}"))
            elif (words[0] == "RENAME" and len(words) > 1 and words[1] == "COLUMN") or (
                    words[0] == "CHANGE" and _changes_name(action)):
                hits.append(Hit("renaming-column", f"table {table}"))
        kept = [a for a in actions if a[0].upper not in ("ALGORITHM", "LOCK")]
        stated = len(kept) != len(actions)
        answer = self._ask(statement, table, kept) if self.session is not None else None
        if answer is None:
            answer = self._static(kept)
        if answer is None:
            return hits
        return hits + self._judge(table, answer, stated, size)

    def _static(self, actions: list[list[Token]]) -> Algorithm | None:
        found: Algorithm | None = None
        for action in actions:
            one = classify(action, mariadb=self.mariadb, version=self.version)
            if one is None:
                continue
            found = one if found is None else found.worst(one)
        return found

    def _judge(self, table: str, answer: Algorithm, stated: bool, size: tuple[int, int]) -> list[Hit]:
        source = "the server accepted" if answer.asked else f"expected on {self.target.split(' (')[0]}"
        detail = f"table {table}: {answer.algorithm}{', LOCK=NONE' if answer.lock_none else ''} ({source})"
        if answer.why:
            detail += f"; {answer.why}"
        hits: list[Hit] = []
        if answer.algorithm == COPY:
            hits.append(Hit("alter-table-copy", detail))
        elif not answer.lock_none:
            hits.append(Hit("alter-table-blocks-writes", detail))
        elif answer.rebuild:
            hits.append(Hit("alter-table-rebuild", detail))
        if not stated and answer.algorithm != COPY:
            clause = f"ALGORITHM={answer.algorithm}" + (", LOCK=NONE" if answer.algorithm != INSTANT
                                                         and answer.lock_none else "")
            hits.append(Hit("alter-table-algorithm", detail, f"Append `, {clause}`: the server then refuses "
                            "instead of falling back to a slower algorithm."))
        rows, size_bytes = size
        if self.galera_toi and answer.algorithm != INSTANT and (rows >= GALERA_LARGE_ROWS
                                                                 or size_bytes >= GALERA_LARGE_BYTES):
            hits.append(Hit("galera-toi-large-table", f"table {table}: about {rows} rows, {size_bytes >> 20} MiB"))
        return hits

    def _create_index(self, tokens: list[Token], state: MigrationState) -> list[Hit]:
        on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), None)
        table = name_at(tokens, on + 1)[0] if on is not None else None
        if table is None or table in state.created:
            return []
        size = self._table(table)
        if size is None:
            return []
        kind = tokens[1].upper
        answer = Algorithm(INPLACE, kind not in ("FULLTEXT", "SPATIAL"), kind == "FULLTEXT",
                           f"{kind.lower()} index: writes blocked" if kind in ("FULLTEXT", "SPATIAL") else "")
        stated = any(t.is_word("ALGORITHM", "LOCK") for t in tokens)
        return self._judge(table, answer, stated, size)

    # -- asking the server ----------------------------------------------------------------------------
    def _ask(self, statement: Statement, table: str, actions: list[list[Token]]) -> Algorithm | None:
        """The first algorithm the server accepts for ``actions`` on an empty copy of ``table`` ; None: cannot."""
        if not actions or self.session is None:
            return None
        session = self.session
        text = ", ".join(statement.text[a[0].start:a[-1].end] for a in actions)
        static = self._static(actions)
        scratch = self._scratch_database()
        q = self.dialect.quote_identifier
        clone = f"{q(scratch)}.{q('t_' + secrets.token_hex(4))}"
        attempts = [(INSTANT, "ALGORITHM=INSTANT")]
        if self.mariadb:
            attempts.append((NOCOPY, "ALGORITHM=NOCOPY"))
        attempts += [(INPLACE + "+NONE", "ALGORITHM=INPLACE, LOCK=NONE"), (INPLACE, "ALGORITHM=INPLACE")]
        try:
            session.execute(f"CREATE TABLE {clone} LIKE {q(self.database or '')}.{q(table)}")
        except DbKeeperError:
            return None
        try:
            for name, clause in attempts:
                try:
                    session.execute(f"ALTER TABLE {clone} {text}, {clause}")
                except DbKeeperError as exc:
                    if _NOT_SUPPORTED.search(str(exc)):
                        continue
                    return None  # the statement needs what the copy lacks (a referenced table): judge offline
                algorithm = name.split("+")[0]
                rebuild = algorithm == INPLACE and (self.mariadb or static is None or static.rebuild)
                return Algorithm(algorithm, name != INPLACE, rebuild, "", True)
            return Algorithm(COPY, False, True, static.why if static is not None else "", True)
        finally:
            session.execute(f"DROP TABLE IF EXISTS {clone}")

    def _scratch_database(self) -> str:
        if self._scratch is None and self.session is not None:
            name = f"dbkeeper_lint_{secrets.token_hex(4)}"
            self.session.execute(self.dialect.create_database_sql(name))
            self._scratch = name
        return self._scratch or ""

    def close(self) -> None:
        if self._scratch is not None and self.session is not None:
            self.session.execute(self.dialect.drop_database_sql(self._scratch))
            self._scratch = None


def _changes_name(action: list[Token]) -> bool:
    """``CHANGE [COLUMN] old new ...`` with ``new`` different from ``old``."""
    rest = action[1:]
    if rest and rest[0].is_word("COLUMN"):
        rest = rest[1:]
    return len(rest) >= 2 and rest[0].ident.lower() != rest[1].ident.lower()
