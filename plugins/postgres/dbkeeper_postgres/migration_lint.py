"""PostgreSQL's migration lint rules: which DDL blocks a live table, for how long, and the safe rewrite.

Named by ``PostgresDialect.migration_lint_rules``; run by ``dbkeeper
migrate lint`` (:mod:`dbkeeper.migrations.lint`). The rule ids are
squawk's where squawk has the same rule, so a team moving from squawk keeps
its ``lint-disable`` comments' meaning, and the test suite checks these
rules against squawk on a shared corpus.

Version-aware: before PostgreSQL 11 any ``ADD COLUMN ... DEFAULT``
rewrites the table (11 stores a non-volatile default in the catalog);
from 12 ``SET NOT NULL`` skips its scan when a validated ``CHECK (col IS
NOT NULL)`` exists. With ``--db`` the rules ask the catalogs: whether a
table exists (an index on a table the pending migrations create needs no
``CONCURRENTLY``), a column's current type (widening ``varchar(n)`` or a
numeric precision rewrites nothing), a function's volatility, and whether
the validated ``CHECK`` is already there.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, ClassVar

from dbkeeper.migrations.lint.model import ERROR, Hit, Rule
from dbkeeper.migrations.lint.rules import LintRules, MigrationState, Statement
from dbkeeper.migrations.lint.tokens import NAME, PUNCT, WORD, Token, alter_table, created_table, name_at

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.session import Session

__all__ = ["PostgresLintRules"]

#: Functions whose result changes per row: a default calling one is evaluated for every existing row.
VOLATILE = frozenset({"random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
                      "clock_timestamp", "timeofday", "nextval", "txid_current", "pg_current_xact_id",
                      "uuidv4", "uuidv7", "random_normal", "setseed"})
#: Functions (and function-like keywords) known not to be volatile: stored once in the catalog from PostgreSQL 11.
NOT_VOLATILE = frozenset({"now", "current_timestamp", "current_date", "current_time", "localtimestamp", "localtime",
                          "transaction_timestamp", "statement_timestamp", "current_user", "session_user",
                          "current_setting", "coalesce", "lower", "upper", "length", "abs", "round", "md5",
                          "to_jsonb", "jsonb_build_object", "json_build_object", "array", "row", "cast",
                          "make_interval", "make_date", "to_timestamp", "to_char", "timezone", "greatest", "least"})
_SERIAL = frozenset({"SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"})
_COLUMN_CONSTRAINT = frozenset({"NOT", "NULL", "CONSTRAINT", "CHECK", "REFERENCES", "PRIMARY", "UNIQUE",
                                "GENERATED", "COLLATE", "DEFERRABLE", "INITIALLY"})
_CONSTRAINT_START = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "EXCLUDE"})
_NEWEST = (18, 0)


class PostgresLintRules(LintRules):
    """The PostgreSQL rules (see the module docstring)."""

    dialect_name = "postgres"
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("require-concurrent-index-creation", "CREATE INDEX without CONCURRENTLY on an existing table",
             "A plain CREATE INDEX holds a SHARE lock for the whole build: every INSERT, UPDATE and DELETE on "
             "the table waits until the index is built.",
             "CREATE INDEX CONCURRENTLY IF NOT EXISTS ... in a migration of its own (dbkeeper runs it outside a "
             "transaction); if the build fails, DROP INDEX CONCURRENTLY the invalid index before retrying."),
        Rule("adding-field-with-default", "ADD COLUMN with a volatile default (any default before PostgreSQL 11)",
             "The default must be computed for every existing row, so PostgreSQL rewrites the whole table under "
             "an ACCESS EXCLUSIVE lock: no reads or writes until the rewrite ends.",
             "Add the column without that default (a constant default is free from PostgreSQL 11), then "
             "ALTER COLUMN ... SET DEFAULT for new rows and backfill existing rows in batches."),
        Rule("adding-not-nullable-field", "SET NOT NULL without a validated CHECK (col IS NOT NULL)",
             "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock to prove no NULL is left: reads "
             "and writes wait for the scan.",
             "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; in a later migration VALIDATE CONSTRAINT c "
             "(writes keep going); then SET NOT NULL, which PostgreSQL 12+ proves from the valid check without a "
             "scan, and DROP CONSTRAINT c."),
        Rule("constraint-missing-not-valid", "ADD CONSTRAINT (CHECK, FOREIGN KEY) without NOT VALID",
             "Adding a constraint checks every existing row while holding a lock that blocks writes (ACCESS "
             "EXCLUSIVE for a CHECK); validating in the same transaction that added it keeps that lock through "
             "the scan.",
             "ADD CONSTRAINT ... NOT VALID (instant: only new rows are checked), then VALIDATE CONSTRAINT in a "
             "separate migration, which takes a SHARE UPDATE EXCLUSIVE lock and lets reads and writes go on."),
        Rule("adding-foreign-key-constraint", "FOREIGN KEY without NOT VALID on an existing table",
             "A new foreign key scans the table under a SHARE ROW EXCLUSIVE lock on both the table and the "
             "referenced table: writes to both wait until every row is checked.",
             "ADD CONSTRAINT fk FOREIGN KEY (...) REFERENCES ... NOT VALID; then, in a separate migration, "
             "ALTER TABLE ... VALIDATE CONSTRAINT fk."),
        Rule("changing-column-type", "ALTER COLUMN TYPE that rewrites the table",
             "Unless the new type is binary-compatible (a longer varchar, varchar to text, a wider numeric "
             "precision), PostgreSQL rewrites the table and every index on it under an ACCESS EXCLUSIVE lock.",
             "Add a new column of the new type, write both from the application, backfill in batches, switch "
             "reads, then drop the old column; or widen only (varchar(n) to varchar(m > n) or text)."),
        Rule("renaming-column", "RENAME COLUMN breaks running code",
             "Application instances still running the previous release query the old name and fail the moment "
             "the migration commits.",
             "Add the new column, write both, backfill, move readers, then drop the old one in a later release; "
             "or rename and keep a view with the old name for one release."),
        Rule("renaming-table", "RENAME TO breaks running code",
             "Application instances still running the previous release query the old table name and fail the "
             "moment the migration commits.",
             "Rename, then CREATE VIEW old_name AS SELECT * FROM new_name (updatable for simple tables) for one "
             "release; drop the view once no code uses the old name."),
        Rule("require-lock-timeout", "a lock on an existing table taken without SET lock_timeout",
             "The DDL waits for its lock behind any long query on the table, and every query arriving after it "
             "queues behind the DDL: one slow report stalls the whole application.",
             "Start the migration with SET lock_timeout = '2s' (or run with `migrate up --lock-timeout`): the "
             "DDL gives up quickly instead of queueing everyone, and can be retried."),
        Rule("alter-type-in-transaction", "ALTER TYPE ... ADD VALUE before PostgreSQL 12",
             "Before PostgreSQL 12 ALTER TYPE ... ADD VALUE cannot run inside a transaction block.",
             "Put it in a migration of its own, or upgrade: from 12 it runs in a transaction (the new value is "
             "usable after commit).", ERROR),
    )

    def __init__(self, dialect: Dialect, session: Session | None = None) -> None:
        self.version: tuple[int, ...] = _NEWEST
        self._tables: dict[str, int | None] = {}
        super().__init__(dialect, session)
        if session is None:
            self.target = f"PostgreSQL {_NEWEST[0]} (newest known; give --target-version)"

    # -- the server -----------------------------------------------------------------------------------
    def read_server(self, session: Session) -> None:
        number = int(next(iter(session.execute("SHOW server_version_num").rows[0].values())))
        self.version = (number // 10000, number % 10000) if number >= 100000 else (number // 10000,
                                                                                 number // 100 % 100)
        self.target = f"PostgreSQL {self.version[0]}.{self.version[1]} (asked the server)"

    def assume_target(self, text: str) -> None:
        numbers = [int(part) for part in re.findall(r"\d+", text)[:2]]
        if not numbers:
            raise ValueError(f"not a PostgreSQL version: {text!r} (write e.g. 15 or 10.4)")
        self.version = tuple(numbers)
        self.target = f"PostgreSQL {'.'.join(map(str, numbers))} (--target-version)"

    def _oid(self, table: str) -> int | None:
        if self.session is None:
            return None
        if table not in self._tables:
            rows = self.session.execute(
                "SELECT c.oid::int8 FROM pg_class c WHERE c.relname = ? AND c.relkind IN ('r', 'p', 'm') "
                "AND pg_table_is_visible(c.oid)", (table,)).rows
            self._tables[table] = int(next(iter(rows[0].values()))) if rows else None
        return self._tables[table]

    def existing(self, table: str, state: MigrationState) -> bool:
        """Whether ``table`` has rows a lock would matter for: not made by this migration (nor pending ones, online)."""
        if table in state.created:
            return False
        return self.session is None or self._oid(table) is not None

    # -- the rules ------------------------------------------------------------------------------------
    def check(self, statement: Statement, state: MigrationState) -> list[Hit]:
        tokens = statement.tokens
        if not tokens:
            return []
        head = statement.words(4)
        made = created_table(tokens)
        if made is not None:
            state.created.add(made)
            return []
        if head[0] == "SET" or head[:2] == ["RESET", "LOCK_TIMEOUT"]:
            self._setting(tokens, state)
            return []
        if head[0] == "CREATE" and "INDEX" in head[1:3]:
            return self._create_index(tokens, state)
        if head[:2] == ["DROP", "INDEX"] and "CONCURRENTLY" not in head:
            return self._needs_timeout(state)
        if head[:2] == ["ALTER", "TYPE"] and self.version < (12,) and any(t.is_word("ADD") for t in tokens) \
                and any(t.is_word("VALUE") for t in tokens):
            return [Hit("alter-type-in-transaction", f"target is PostgreSQL {self.version[0]}")]
        altered = alter_table(tokens)
        if altered is None:
            return []
        table, actions = altered
        if not self.existing(table, state):
            return []
        hits = self._needs_timeout(state)
        for action in actions:
            hits += self._action(table, action, state)
        return hits

    def _setting(self, tokens: list[Token], state: MigrationState) -> None:
        words = [t for t in tokens if not t.is_word("SESSION", "LOCAL")]
        if len(words) >= 2 and words[0].is_word("RESET") and words[1].upper == "LOCK_TIMEOUT":
            state.settings.pop("lock_timeout", None)
        elif len(words) >= 3 and words[1].upper == "LOCK_TIMEOUT":
            value = "".join(t.value for t in words[2:] if t.value not in ("=",) and not t.is_word("TO"))
            if value.strip("'") in ("0", "DEFAULT", "default"):
                state.settings.pop("lock_timeout", None)
            else:
                state.settings["lock_timeout"] = value

    def _needs_timeout(self, state: MigrationState) -> list[Hit]:
        if "lock_timeout" in state.settings or "require-lock-timeout" in state.reported:
            return []
        state.reported.add("require-lock-timeout")
        return [Hit("require-lock-timeout")]

    def _create_index(self, tokens: list[Token], state: MigrationState) -> list[Hit]:
        on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), None)
        if on is None:
            return []
        at = on + 1 + (1 if on + 1 < len(tokens) and tokens[on + 1].is_word("ONLY") else 0)
        table = name_at(tokens, at)[0]
        if table is None or not self.existing(table, state) or any(t.is_word("CONCURRENTLY") for t in tokens[:on]):
            return []
        return [*self._needs_timeout(state), Hit("require-concurrent-index-creation", f"table {table}")]

    def _action(self, table: str, action: list[Token], state: MigrationState) -> list[Hit]:
        words = [t.upper for t in action]
        first = words[0]
        if first == "ADD":
            rest = action[1:]
            if rest and rest[0].kind == WORD and rest[0].upper in _CONSTRAINT_START:
                return self._add_constraint(table, rest, state)
            return self._add_column(table, rest)
        if first == "VALIDATE" and len(action) >= 3:
            name = action[2].ident
            if name in state.notes.setdefault("not_valid", set()):
                return [Hit("constraint-missing-not-valid",
                            f"constraint {name} is validated in the same migration that added it NOT VALID",
                            "Move VALIDATE CONSTRAINT into a later migration, so the lock the ADD took is "
                            "released before the scan.")]
            return []
        if first == "RENAME":
            if "TO" in words and len(words) >= 2 and words[1] == "TO":
                return [Hit("renaming-table", f"table {table}")]
            if "TO" in words and not (len(words) > 1 and words[1] == "CONSTRAINT"):
                return [Hit("renaming-column", f"table {table}")]
            return []
        if first == "ALTER":
            return self._alter_column(table, action)
        return []

    def _add_constraint(self, table: str, rest: list[Token], state: MigrationState) -> list[Hit]:
        words = [t.upper for t in rest]
        name = rest[1].ident if words[0] == "CONSTRAINT" and len(rest) > 1 else ""
        kind_at = 2 if words[0] == "CONSTRAINT" else 0
        kind = words[kind_at] if kind_at < len(words) else ""
        not_valid = any(a == "NOT" and b == "VALID" for a, b in itertools.pairwise(words))
        if not_valid:
            state.notes.setdefault("not_valid", set()).add(name)
            return []
        if kind == "FOREIGN":
            return [Hit("constraint-missing-not-valid", f"foreign key on {table}"),
                    Hit("adding-foreign-key-constraint", f"table {table}")]
        if kind == "CHECK":
            return [Hit("constraint-missing-not-valid", f"check on {table}")]
        return []

    def _add_column(self, table: str, rest: list[Token]) -> list[Hit]:
        if rest and rest[0].is_word("COLUMN"):
            rest = rest[1:]
        if len(rest) >= 3 and rest[0].is_word("IF") and rest[1].is_word("NOT"):
            rest = rest[3:]
        column, i = name_at(rest, 0)
        hits: list[Hit] = []
        words = [t.upper for t in rest]
        if "REFERENCES" in words:
            hits.append(Hit("adding-foreign-key-constraint", f"column {column} of {table} references another table",
                            "Add the column without REFERENCES, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID "
                            "and VALIDATE it in a later migration."))
        type_word = rest[i].upper if i < len(rest) else ""
        if type_word in _SERIAL:
            return [*hits, Hit("adding-field-with-default",
                               f"{type_word.lower()} column {column}: nextval() is volatile, every row gets its own "
                               "value", "Add a plain bigint column, backfill in batches, then attach a sequence or "
                               "identity.")]
        if "GENERATED" in words and ("STORED" in words or "IDENTITY" in words):
            return [*hits, Hit("adding-field-with-default", f"generated column {column} is computed for every row")]
        if "DEFAULT" not in words:
            return hits
        default = _default_expression(rest[words.index("DEFAULT") + 1:])
        if _is_null(default):
            return hits
        if self.version < (11,):
            return [*hits, Hit("adding-field-with-default",
                               f"PostgreSQL {self.version[0]} rewrites the table for any default")]
        volatile = self._volatile_calls(default)
        if volatile:
            return [*hits, Hit("adding-field-with-default",
                               f"default calls {', '.join(volatile)}(), which is volatile or of unknown volatility")]
        return hits

    def _volatile_calls(self, expression: list[Token]) -> list[str]:
        calls = [t.ident for t, nxt in itertools.pairwise(expression)
                 if t.kind in (WORD, NAME) and nxt.kind == PUNCT and nxt.value == "("]
        found = []
        for name in calls:
            if name in VOLATILE or (name not in NOT_VOLATILE and self._function_volatility(name) in (None, "v")):
                found.append(name)
        return found

    def _function_volatility(self, name: str) -> str | None:
        """``v``, ``s`` or ``i`` from ``pg_proc`` (the most volatile overload), ``None`` when unknown."""
        if self.session is None:
            return None
        rows = self.session.execute("SELECT provolatile::text FROM pg_proc WHERE proname = ?", (name,)).rows
        kinds = {str(next(iter(row.values()))) for row in rows}
        return "v" if "v" in kinds else ("s" if "s" in kinds else ("i" if kinds else None))

    def _alter_column(self, table: str, action: list[Token]) -> list[Hit]:
        rest = action[1:]
        if rest and rest[0].is_word("COLUMN"):
            rest = rest[1:]
        column, i = name_at(rest, 0)
        words = [t.upper for t in rest[i:]]
        if words[:3] == ["SET", "NOT", "NULL"]:
            if self.version >= (12,) and column is not None and self._validated_not_null(table, column):
                return []
            detail = f"column {column} of {table}"
            if self.version < (12,):
                detail += f"; PostgreSQL {self.version[0]} scans even with a validated CHECK"
            return [Hit("adding-not-nullable-field", detail)]
        if words[:1] == ["TYPE"] or words[:3] == ["SET", "DATA", "TYPE"]:
            start = i + (1 if words[0] == "TYPE" else 3)
            new_type = _type_of(rest[start:])
            old_type = self._column_type(table, column) if column is not None else None
            if old_type is not None and _binary_compatible(_parse_type(old_type), new_type) \
                    and "USING" not in words:
                return []
            detail = f"column {column} of {table}" + (f": {old_type} to {new_type[0]}" if old_type else
                                                      " (current type unknown without --db)")
            return [Hit("changing-column-type", detail)]
        return []

    def _validated_not_null(self, table: str, column: str) -> bool:
        oid = self._oid(table)
        if oid is None or self.session is None:
            return False
        rows = self.session.execute(
            "SELECT 1 FROM pg_constraint WHERE conrelid = ?::oid AND contype = 'c' AND convalidated "
            "AND pg_get_constraintdef(oid) = 'CHECK ((' || quote_ident(?) || ' IS NOT NULL))'",
            (oid, column)).rows
        return bool(rows)

    def _column_type(self, table: str, column: str) -> str | None:
        oid = self._oid(table)
        if oid is None or self.session is None:
            return None
        rows = self.session.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = ?::oid AND attname = ? "
            "AND NOT attisdropped", (oid, column)).rows
        return str(next(iter(rows[0].values()))) if rows else None


def _default_expression(tokens: list[Token]) -> list[Token]:
    """The tokens of a ``DEFAULT`` expression: up to the next column constraint outside parentheses."""
    depth = 0
    for i, token in enumerate(tokens):
        if token.kind == PUNCT and token.value == "(":
            depth += 1
        elif token.kind == PUNCT and token.value == ")":
            depth -= 1
        elif depth == 0 and token.kind == WORD and token.upper in _COLUMN_CONSTRAINT:
            return tokens[:i]
    return tokens


def _is_null(expression: list[Token]) -> bool:
    return len(expression) == 1 and expression[0].is_word("NULL")


_ALIASES = {"character varying": "varchar", "character": "char", "decimal": "numeric", "int": "integer",
            "int4": "integer", "int8": "bigint", "int2": "smallint", "bit varying": "varbit",
            "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz"}


def _parse_type(text: str) -> tuple[str, tuple[int, ...]]:
    """``("varchar", (20,))`` from ``character varying(20)``; arrays and unknown types come back as written."""
    match = re.fullmatch(r"\s*([a-zA-Z_ ][\w ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*(\[\])?\s*", text)
    if not match:
        return text.strip().lower(), ()
    base = " ".join(match.group(1).lower().split())
    base = _ALIASES.get(base, base) + (match.group(4) or "")
    params = tuple(int(g) for g in match.group(2, 3) if g is not None)
    return base, params


def _type_of(tokens: list[Token]) -> tuple[str, tuple[int, ...]]:
    """The type an ``ALTER COLUMN ... TYPE`` names (up to ``USING``/``COLLATE``)."""
    text = []
    for token in tokens:
        if token.is_word("USING", "COLLATE"):
            break
        text.append(token.value)
    joined = " ".join(text).replace(" ( ", "(").replace(" , ", ",").replace(" )", ")").replace("( ", "(")
    return _parse_type(joined)


def _binary_compatible(old: tuple[str, tuple[int, ...]], new: tuple[str, tuple[int, ...]]) -> bool:
    """Whether changing ``old`` to ``new`` leaves the stored bytes valid (PostgreSQL then skips the rewrite).

    The cases PostgreSQL documents and real migrations hit: the same type,
    a longer (or no) ``varchar`` limit, ``varchar`` to ``text``, ``text``
    to unlimited ``varchar``, a wider ``numeric`` precision at the same
    scale, ``varbit`` likewise, ``cidr`` to ``inet``. Anything else counts
    as a rewrite: a false alarm costs a look, a missed rewrite an outage.
    """
    (ob, op), (nb, np) = old, new
    if old == new:
        return True
    if ob in ("varchar", "text") and nb == "text":
        return True
    if ob in ("varchar", "text") and nb == "varchar":
        return not np or (ob == "varchar" and bool(op) and np[0] >= op[0])
    if ob == nb == "varbit":
        return not np or (bool(op) and np[0] >= op[0])
    if ob == nb == "numeric":
        if not np:
            return True
        return len(op) >= 1 and len(np) >= 1 and np[0] >= op[0] and (op[1:] or (0,)) == (np[1:] or (0,))
    return ob == "cidr" and nb == "inet"
