"""Run one migration (up or down) and record it, so a failure leaves a known state.

Two modes, chosen per migration from its statements:

- **transaction**: every statement and the history write run in one
  transaction. A failure rolls all of it back; only a ``failed`` row with the
  error is written afterwards, and the next run simply tries again. This is
  the mode on PostgreSQL and SQLite unless a statement cannot run in a
  transaction.
- **statements**: used when some statement commits implicitly (MySQL DDL) or
  cannot run in a transaction (``CREATE INDEX CONCURRENTLY``, ``VACUUM``).
  Consecutive statements that can share a transaction form a segment that
  commits together with its progress update; every other statement runs on
  its own, announced beforehand in ``current_statement`` and recorded
  afterwards. A failure at statement *k* leaves a ``failed`` row saying so,
  and the next run refuses to go on until ``repair`` resolves it. A crash
  leaves a ``running`` row: if it stopped between segments, the next run
  resumes exactly there (nothing of the interrupted segment was committed);
  if it stopped inside a non-transactional statement, nobody can know
  whether that statement took effect, so ``repair`` must decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import DbKeeperError
from dbkeeper.migrations.errors import MigrationFileError
from dbkeeper.migrations.history import (
    MODE_STATEMENTS,
    MODE_TRANSACTION,
    RUNNING,
    HistoryRow,
    HistoryTable,
    Operator,
    now_text,
)
from dbkeeper.migrations.model import APPLIED, FAILED, ROLLED_BACK, Migration, MigrationResult
from dbkeeper.sql.split import keywords

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.engine.connection import DatabaseConnection

UP = "up"  # the same values as dbkeeper.migrations.migrator.UP/DOWN
DOWN = "down"

_TRANSACTION_CONTROL = {"COMMIT", "ROLLBACK", "ABORT", "START", "END"}


def is_transaction_control(statement: str) -> bool:
    """True for ``BEGIN``/``COMMIT``/``ROLLBACK``/``START TRANSACTION``/``END`` (not savepoints).

    The engine owns each migration's transaction; a script that commits on
    its own would break the all-or-nothing promise, so such statements are
    refused before anything runs.
    """
    words = keywords(statement, 3)
    if not words:
        return False
    first = words[0]
    second = words[1] if len(words) > 1 else ""
    if first == "BEGIN":
        return second != "NOT"  # MariaDB's BEGIN NOT ATOMIC is a compound statement
    if first == "ROLLBACK":
        return second != "TO" and not (second in ("WORK", "TRANSACTION") and len(words) > 2 and words[2] == "TO")
    if first == "START":
        return second == "TRANSACTION"
    if first == "END":
        return second in ("", "TRANSACTION", "WORK")
    return first in _TRANSACTION_CONTROL


@dataclass
class Step:
    """One planned operation: a migration, a direction and the statements to run.

    ``start_at`` (1-based) skips statements already committed by an earlier,
    interrupted run; ``mode`` is ``transaction`` or ``statements``.
    """

    migration: Migration
    direction: str
    statements: list[str]
    mode: str
    start_at: int = 1

    @property
    def total(self) -> int:
        """Number of statements in the script."""
        return len(self.statements)


def plan_step(dialect: Dialect, migration: Migration, direction: str, *, start_at: int = 1,
              mode: str | None = None) -> Step:
    """Split the migration's SQL for ``direction``, check it, and choose the mode."""
    sql = migration.sql if direction == UP else (migration.rollback_sql or "")
    statements = dialect.split_statements(sql)
    for number, statement in enumerate(statements, 1):
        if is_transaction_control(statement):
            which = "rollback SQL" if direction == DOWN else "SQL"
            raise MigrationFileError(
                f"migration {migration.id} ({migration.location}): statement {number} of its {which} is "
                f"{statement.split()[0].upper()}, a transaction control statement. dbkeeper runs each migration in "
                "its own transaction (or records its progress statement by statement where the database "
                "cannot); remove the statement"
            )
    if mode is None:
        mode = choose_mode(dialect, statements)
    return Step(migration, direction, statements, mode, start_at)


def choose_mode(dialect: Dialect, statements: list[str]) -> str:
    """``transaction`` when every statement can share one transaction, else ``statements``."""
    if not dialect.capabilities.transactions:
        return MODE_STATEMENTS
    for statement in statements:
        if dialect.is_non_transactional(statement) or dialect.commits_implicitly(statement):
            return MODE_STATEMENTS
    return MODE_TRANSACTION


def segments(dialect: Dialect, statements: list[str], start_at: int) -> list[tuple[int, int, bool]]:
    """Group statements ``start_at..n`` into ``(first, last, transactional)`` runs (1-based)."""
    result: list[tuple[int, int, bool]] = []
    can_tx = dialect.capabilities.transactions
    for number in range(start_at, len(statements) + 1):
        statement = statements[number - 1]
        transactional = can_tx and not (dialect.is_non_transactional(statement)
                                         or dialect.commits_implicitly(statement))
        if transactional and result and result[-1][2] and result[-1][1] == number - 1:
            result[-1] = (result[-1][0], number, True)
        else:
            result.append((number, number, transactional))
    return result


_PLAIN_DDL = frozenset({"CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE"})


def _is_plain_ddl(statement: str) -> bool:
    """Schema statements with no row counts worth reporting (they can share one round trip)."""
    words = keywords(statement, 1)
    return bool(words) and words[0] in _PLAIN_DDL


def _script_file(step: Step) -> str:
    """`` in <file>`` naming the script that failed, for rollbacks (the up file is the migration's location)."""
    if step.direction != DOWN or step.migration.source is None:
        return ""
    return f" in {step.migration.rollback_location}"


class _StatementFailed(Exception):
    """Carries the 1-based number of the statement that failed and the database's error."""

    def __init__(self, number: int | None, error: DbKeeperError) -> None:
        super().__init__(str(error))
        self.number = number
        self.error = error


class Executor:
    """Runs steps against one connection and keeps the in-memory history snapshot current.

    ``rows`` is the snapshot read under the lock; the executor updates it
    after every write, so later decisions (insert or update, next
    ``applied_order``) need no further queries.
    """

    def __init__(self, connection: DatabaseConnection, history: HistoryTable, rows: dict[str, HistoryRow],
                 operator: Operator, *, on_statement: Callable[[Step, int], None] | None = None) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.history = history
        self.rows = rows
        self.operator = operator
        self.on_statement = on_statement
        self.next_order = max((r.applied_order for r in rows.values()), default=0) + 1

    # -- public ------------------------------------------------------------------------------
    def run(self, step: Step, *, last: bool = True) -> MigrationResult:
        """Run ``step``; failures are returned (``success=False``), never raised.

        Unless ``last``, a transaction-mode migration may commit without
        waiting for the log flush (``Dialect.relaxed_commit_sql``): the last
        step of the run commits normally and makes every earlier one durable.
        """
        relaxed = None if last else self.dialect.relaxed_commit_sql()
        if step.mode == MODE_TRANSACTION:
            return self._run_transaction(step, relaxed)
        return self._run_statements(step)

    # -- bookkeeping --------------------------------------------------------------------------
    def _who(self) -> dict[str, Any]:
        op = self.operator
        return {"applied_by": op.user, "applied_host": op.host, "applied_pid": op.pid}

    def _finished_values(self, step: Step, elapsed: Any) -> dict[str, Any]:
        migration = step.migration
        values: dict[str, Any] = {
            "name": migration.name[:255],
            "checksum": migration.checksum,
            "direction": step.direction,
            "run_mode": step.mode,
            "applied_at": now_text(),
            "execution_time": elapsed,
            "statements_executed": step.total,
            "statements_total": step.total,
            "failed_statement": None,
            "current_statement": None,
            "error_message": None,
            **self._who(),
        }
        if step.direction == UP:
            values["status"] = APPLIED
            values["applied_order"] = self.next_order
            values["rollback_sql"] = migration.rollback_sql
        else:
            values["status"] = ROLLED_BACK
            values["applied_order"] = self.rows[migration.id].applied_order if migration.id in self.rows else 0
        return values

    def _remember(self, ident: str, values: Mapping[str, Any]) -> None:
        row = self.rows.get(ident)
        known = {k: v for k, v in values.items() if k in HistoryRow.__dataclass_fields__}
        if row is None:
            row = HistoryRow(id=ident, name=known.pop("name", ident), checksum=known.pop("checksum", ""),
                             status=known.pop("status", RUNNING))
            self.rows[ident] = row
        for key, value in known.items():
            setattr(row, key, value)
        if values.get("status") == APPLIED and values.get("applied_order") == self.next_order:
            self.next_order += 1

    def _write(self, executor: Any, ident: str, values: dict[str, Any]) -> None:
        self.history.upsert(executor, ident, values, exists=ident in self.rows)

    def _record_failure(self, step: Step, values: dict[str, Any]) -> None:
        """Write the failure outside any transaction; a failure to record is logged, not raised."""
        from dbkeeper.migrations.locking import logger

        try:
            self._write(self.connection, step.migration.id, values)
            self._remember(step.migration.id, values)
        except DbKeeperError as exc:
            logger.warning("could not record the failure of migration %s: %s", step.migration.id, exc)

    # -- transaction mode ------------------------------------------------------------------------
    def _run_in_one_round_trip(self, step: Step, relaxed: str | None) -> MigrationResult | None:
        """Plain-DDL migrations on dialects with ``atomic_script``: statements and history row, one message.

        Returns ``None`` when the path does not apply, or when the script
        failed: the server rolled all of it back, and the ordinary path then
        runs the migration again statement by statement, which names the
        statement that fails and records it.
        """
        dialect = self.dialect
        if not step.statements or self.on_statement is not None:
            return None
        if not all(_is_plain_ddl(s) for s in step.statements):
            return None
        from dbkeeper.contract.dialect import SCRIPT_ELAPSED

        start = time.perf_counter()
        values = self._finished_values(step, SCRIPT_ELAPSED)
        try:
            history = self.history.render_upsert(step.migration.id, values, exists=step.migration.id in self.rows,
                                                 literal=dialect.sql_literal)
            script = dialect.atomic_script([*([relaxed] if relaxed else []), *step.statements, history])
        except DbKeeperError:
            return None
        if script is None:
            return None
        try:
            self.connection.execute(script)
        except DbKeeperError:
            return None
        elapsed = time.perf_counter() - start
        values["execution_time"] = elapsed
        self._remember(step.migration.id, values)
        return MigrationResult(step.migration.id, True, elapsed, None, 0, step.total, step.direction)

    def _run_transaction(self, step: Step, relaxed: str | None = None) -> MigrationResult:
        quick = self._run_in_one_round_trip(step, relaxed)
        if quick is not None:
            return quick
        migration = step.migration
        start = time.perf_counter()
        current: int | None = None
        rows_affected = 0
        try:
            try:
                with self.connection.transaction() as tx:
                    if relaxed:
                        tx.execute(relaxed)
                    for number, statement in enumerate(step.statements, 1):
                        current = number
                        if self.on_statement is not None:
                            self.on_statement(step, number)
                        rows_affected += max(0, tx.execute(statement).rows_affected)
                    current = None
                    values = self._finished_values(step, time.perf_counter() - start)
                    self._write(tx, migration.id, values)
            except DbKeeperError as exc:
                raise _StatementFailed(current, exc) from None
        except _StatementFailed as failure:
            elapsed = time.perf_counter() - start
            where = f"statement {failure.number} of {step.total}" if failure.number else "recording it"
            message = f"{step.direction} failed at {where}{_script_file(step)}: {failure.error}"
            if step.direction == UP:
                self._record_failure(step, {
                    "name": migration.name[:255], "checksum": migration.checksum, "status": FAILED,
                    "direction": UP, "run_mode": MODE_TRANSACTION,
                    "applied_order": self.rows[migration.id].applied_order if migration.id in self.rows else 0,
                    "applied_at": now_text(), "execution_time": elapsed, "statements_executed": 0,
                    "statements_total": step.total, "failed_statement": failure.number, "current_statement": None,
                    "rollback_sql": migration.rollback_sql, "error_message": message, **self._who(),
                })
            elif migration.id in self.rows:
                self._record_failure(step, {"error_message": message})
            return MigrationResult(migration.id, False, elapsed, message, rows_affected, 0, step.direction,
                                   failed_statement=failure.number)
        self._remember(migration.id, values)
        return MigrationResult(migration.id, True, values["execution_time"], None, rows_affected, step.total,
                               step.direction)

    # -- statements mode ---------------------------------------------------------------------------
    def _run_statements(self, step: Step) -> MigrationResult:
        migration = step.migration
        ident = migration.id
        start = time.perf_counter()
        plan = segments(self.dialect, step.statements, step.start_at)
        done = step.start_at - 1
        rows_affected = 0
        first_marker = plan[0][0] if plan and not plan[0][2] else None
        opening: dict[str, Any] = {
            "name": migration.name[:255], "checksum": migration.checksum, "status": RUNNING,
            "direction": step.direction, "run_mode": MODE_STATEMENTS,
            "applied_order": self.rows[ident].applied_order if ident in self.rows else 0,
            "applied_at": now_text(), "execution_time": None, "statements_executed": done,
            "statements_total": step.total, "failed_statement": None, "current_statement": first_marker,
            "error_message": None, **self._who(),
        }
        if step.direction == UP:
            opening["rollback_sql"] = migration.rollback_sql
        self._write(self.connection, ident, opening)
        self._remember(ident, opening)
        current: int | None = None
        try:
            for index, (first, last, transactional) in enumerate(plan):
                final = index == len(plan) - 1
                if transactional:
                    with self.connection.transaction() as tx:
                        for number in range(first, last + 1):
                            current = number
                            if self.on_statement is not None:
                                self.on_statement(step, number)
                            rows_affected += max(0, tx.execute(step.statements[number - 1]).rows_affected)
                        current = None
                        values = (self._finished_values(step, time.perf_counter() - start) if final
                                  else {"statements_executed": last, "current_statement": None})
                        self.history.update(tx, ident, values)
                else:
                    if index > 0 or first_marker is None:
                        current = None
                        self.history.update(self.connection, ident, {"current_statement": first})
                    current = first
                    if self.on_statement is not None:
                        self.on_statement(step, first)
                    rows_affected += max(0, self.connection.execute(step.statements[first - 1]).rows_affected)
                    current = None
                    values = (self._finished_values(step, time.perf_counter() - start) if final
                              else {"statements_executed": first, "current_statement": None})
                    self.history.update(self.connection, ident, values)
                done = last
                self._remember(ident, values)
            if not plan:
                values = self._finished_values(step, time.perf_counter() - start)
                self.history.update(self.connection, ident, values)
                self._remember(ident, values)
        except DbKeeperError as exc:
            elapsed = time.perf_counter() - start
            where = f"statement {current} of {step.total}" if current else f"recording progress after statement {done}"
            message = (f"{step.direction} failed at {where}{_script_file(step)} ({done} statement(s) committed, "
                       f"not undone): {exc}")
            self._record_failure(step, {"status": FAILED, "failed_statement": current or done + 1,
                                        "current_statement": None, "statements_executed": done,
                                        "execution_time": elapsed, "error_message": message})
            return MigrationResult(ident, False, elapsed, message, rows_affected, done, step.direction,
                                   failed_statement=current or done + 1)
        return MigrationResult(ident, True, time.perf_counter() - start, None, rows_affected,
                               step.total, step.direction)
