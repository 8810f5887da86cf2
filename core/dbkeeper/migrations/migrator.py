"""The migrator: lock, read the history, validate, plan, execute — for one database.

Every command that writes follows the same sequence:

1. the file graph was validated when the :class:`Migrator` was built (bad
   files, duplicates, missing dependencies and cycles never reach here);
2. take the migration lock from ``Dialect.migration_lock``;
3. pin and create the history table, read it in one query;
4. validate history against files: drift, applied migrations whose files
   are gone, failures and interruptions that need ``repair`` — any of these
   raises before a single statement runs;
5. plan every step (splitting and checking all SQL) before running the first;
6. run the steps, stopping at the first failure; release the lock.

Read-only commands (``status``, dry runs) skip the lock and never create
anything.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbkeeper.migrations.errors import (
    ChecksumMismatchError,
    DependentMigrationError,
    MigrationError,
    MigrationNotFoundError,
    MissingMigrationFileError,
    MissingRollbackError,
    RepairRequiredError,
)
from dbkeeper.migrations.history import (
    DEFAULT_TABLE,
    MODE_BASELINE,
    MODE_STATEMENTS,
    MODE_TRANSACTION,
    RUNNING,
    HistoryRow,
    HistoryTable,
    Operator,
    now_text,
)
from dbkeeper.migrations.locking import DEFAULT_LOCK_TIMEOUT
from dbkeeper.migrations.model import APPLIED, FAILED, ROLLED_BACK, Migration, MigrationResult
from dbkeeper.migrations.planner import MigrationGraph
from dbkeeper.migrations.status import StatusReport, build_report, needs_repair

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.migrations.executor import Step

UP = "up"
DOWN = "down"

REPAIR_ACTIONS = ("resolve", "retry", "forget", "accept-checksum")
#: The ``down`` target meaning "before the first migration" (golang-migrate's ``down``/``--to 0``).
BASE_TARGET = "0"


class Listener:
    """Receives progress from a run; the CLI renders it, the API ignores it."""

    def message(self, text: str) -> None:
        """A line for people: waiting for the lock, resuming an interrupted run."""

    def planned(self, steps: Sequence[Step]) -> None:
        """The steps about to run (after every check passed)."""

    def started(self, step: Step, index: int, total: int) -> None:
        """Step ``index`` (0-based) of ``total`` starts."""

    def finished(self, step: Step, result: MigrationResult, index: int, total: int) -> None:
        """Step ``index`` of ``total`` ended with ``result``."""


@dataclass
class RunReport:
    """The outcome of ``up``/``down``: planned steps and one result per step that ran."""

    direction: str
    dry_run: bool = False
    steps: list[Step] = field(default_factory=list)
    results: list[MigrationResult] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """True when every step that ran succeeded."""
        return all(r.success for r in self.results)

    @property
    def failed(self) -> list[MigrationResult]:
        """Results of failed steps (at most one: a run stops at its first failure)."""
        return [r for r in self.results if not r.success]

    def to_dict(self) -> dict[str, Any]:
        """The shape of :func:`~dbkeeper.migrations.run_migrations` for ``up``, plus dry-run SQL."""
        data: dict[str, Any] = {
            "direction": self.direction,
            "migrations_processed": len(self.results),
            "successful": sum(1 for r in self.results if r.success),
            "failed": len(self.failed),
            "success": self.success,
            "results": [r.to_dict() for r in self.results],
        }
        if self.dry_run:
            data["dry_run"] = True
            data["sql"] = [{"migration_id": s.migration.id, "direction": s.direction, "mode": s.mode,
                            "statements": s.statements[s.start_at - 1:]} for s in self.steps]
        return data


class Migrator:
    """Migrations of one :class:`MigrationGraph` against one connected database.

    ``table`` names the history table; ``lock_timeout`` bounds the wait for
    the migration lock (seconds); ``allow_missing`` lets runs proceed although
    applied migrations have no file any more (their recorded rollback SQL is
    used to roll them back).
    """

    def __init__(self, connection: DatabaseConnection, graph: MigrationGraph, *, table: str = DEFAULT_TABLE,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT, allow_missing: bool = False,
                 listener: Listener | None = None) -> None:
        self.connection = connection
        self.graph = graph
        self.table = table
        self.lock_timeout = lock_timeout
        self.allow_missing = allow_missing
        self.listener = listener or Listener()
        self.operator = Operator.current()

    # -- sessions -------------------------------------------------------------------------------
    def _history(self) -> HistoryTable:
        schema = self.connection.dialect.current_schema(self.connection)
        return HistoryTable(self.connection, self.table, schema)

    def lock(self) -> contextlib.AbstractContextManager[Any]:
        """The migration lock for this database and table, held by the dialect."""
        from dbkeeper.migrations.locking import MigrationLock

        lock = self.connection.dialect.migration_lock(self.connection, f"dbkeeper:{self.table}", self.lock_timeout)
        if isinstance(lock, MigrationLock):
            lock.on_wait = self.listener.message
        return lock

    @contextlib.contextmanager
    def session(self, *, write: bool) -> Iterator[tuple[HistoryTable, dict[str, HistoryRow]]]:
        """History and its snapshot; with ``write``, under the lock.

        The table is created only right before the first write, so a run
        that stops at validation leaves a database without one untouched.
        """
        history = self._history()
        if not write:
            yield history, (history.read() if history.exists() else {})
            return
        with self.lock():
            yield history, (history.read() if history.exists() else {})

    def read_history(self) -> dict[str, HistoryRow]:
        """The history snapshot (empty when the table does not exist yet); takes no lock."""
        history = self._history()
        return history.read() if history.exists() else {}

    # -- validation ------------------------------------------------------------------------------
    def validate(self, rows: dict[str, HistoryRow], *, resumable_ok: bool = False) -> None:
        """Raise for drift, applied migrations without files, and anything that needs repair."""
        drifted = []
        for row in rows.values():
            migration = self.graph.by_id.get(row.id)
            if migration is None or row.checksum == migration.checksum:
                continue
            if row.status in (APPLIED, RUNNING) or needs_repair(row):
                drifted.append((migration, row))
        if drifted:
            details = "; ".join(f"{m.id} ({m.location}): recorded checksum {r.checksum}, file checksum {m.checksum}"
                                for m, r in drifted)
            raise ChecksumMismatchError(
                f"{len(drifted)} applied migration(s) changed after they were applied: {details}. Restore the "
                "file(s), or accept the change explicitly (it is recorded) with `dbkeeper migrate repair ID "
                "--accept-checksum`"
            )
        if not self.allow_missing:
            missing = sorted((r for r in rows.values() if r.id not in self.graph and r.status != ROLLED_BACK
                              and not (r.status == FAILED and r.run_mode == MODE_TRANSACTION)),
                             key=lambda r: r.applied_order)
            if missing:
                ids = ", ".join(r.id for r in missing)
                raise MissingMigrationFileError(
                    f"the history records migration(s) {ids} as {missing[0].status}, but no file in the migrations "
                    "directory defines them; restore the files (or pass --allow-missing to go on without them)"
                )
        blocked = [r for r in rows.values()
                   if needs_repair(r) or (r.status == RUNNING and not resumable_ok)]
        if blocked:
            raise RepairRequiredError("; ".join(_repair_message(r) for r in blocked))

    # -- status --------------------------------------------------------------------------------------
    def status(self) -> StatusReport:
        """Every migration's state (applied, pending, failed, interrupted, drifted, missing)."""
        rows = self.read_history()
        return build_report(self.graph, rows, database=self.connection.url.render(), table=self.table)

    # -- up ------------------------------------------------------------------------------------------
    def up(self, *, target: str | None = None, dry_run: bool = False) -> RunReport:
        """Apply pending migrations in order (up to and including ``target``)."""
        if target is not None:
            self.graph.get(target)
        with self.session(write=not dry_run) as (history, rows):
            self.validate(rows, resumable_ok=True)
            steps = self._plan_up(rows, target)
            return self._execute(UP, steps, history, rows, dry_run=dry_run)

    def _plan_up(self, rows: dict[str, HistoryRow], target: str | None,
                 only: Sequence[str] | None = None) -> list[Step]:
        from dbkeeper.migrations.executor import plan_step

        dialect = self.connection.dialect
        cutoff = self.graph.position[target] if target is not None else len(self.graph)
        wanted = set(only) if only is not None else None
        steps: list[Step] = []
        for migration in self.graph.ordered[: cutoff + 1]:
            if wanted is not None and migration.id not in wanted:
                continue
            row = rows.get(migration.id)
            if row is not None and row.status == APPLIED:
                continue
            if row is not None and row.status == RUNNING:  # validated: stopped between segments, safe to resume
                self.listener.message(
                    f"resuming {migration.id} at statement {row.statements_executed + 1} of {row.statements_total}: "
                    f"the run by {row.applied_by}@{row.applied_host} (pid {row.applied_pid}) stopped there")
                steps.append(plan_step(dialect, migration, UP, start_at=row.statements_executed + 1,
                                       mode=MODE_STATEMENTS))
                continue
            steps.append(plan_step(dialect, migration, UP))
        return steps

    def apply(self, ident: str, *, dry_run: bool = False) -> MigrationResult:
        """Apply one migration whose dependencies are applied; applied already is a no-op success."""
        migration = self.graph.get(ident)
        with self.session(write=not dry_run) as (history, rows):
            self.validate(rows, resumable_ok=True)
            row = rows.get(ident)
            if row is not None and row.status == APPLIED:
                return MigrationResult(ident, True, 0.0, None, 0, 0, UP, dry_run=dry_run)
            unmet = [d for d in migration.dependencies if rows.get(d) is None or rows[d].status != APPLIED]
            if unmet:
                raise DependentMigrationError(
                    f"migration {ident} depends on {', '.join(unmet)}, which {'is' if len(unmet) == 1 else 'are'} "
                    "not applied; apply them first (or run `migrate up`)")
            steps = self._plan_up(rows, None, only=[ident])
            report = self._execute(UP, steps, history, rows, dry_run=dry_run)
            if dry_run:
                step = steps[0]
                return MigrationResult(ident, True, 0.0, None, 0, 0, UP, dry_run=True,
                                       statements=step.statements[step.start_at - 1:])
            return report.results[0]

    # -- down ----------------------------------------------------------------------------------------
    def down(self, *, target: str | None = None, dry_run: bool = False, everything: bool = False) -> RunReport:
        """Roll back the latest applied migration, every migration applied after ``target``, or all of them.

        ``everything`` (``migrate down --all``, alembic's ``downgrade base``)
        rolls back every applied migration, newest first; so does the target
        ``"0"`` unless a migration has that id (golang-migrate users write
        ``--to 0`` for "before the first").
        """
        if everything and target is not None:
            raise MigrationError("give either a target or 'everything' (--all), not both")
        with self.session(write=not dry_run) as (history, rows):
            self.validate(rows)
            applied = sorted((r for r in rows.values() if r.status == APPLIED), key=lambda r: r.applied_order)
            if everything or (target == BASE_TARGET and target not in self.graph and target not in rows):
                chosen = applied
            elif target is None:
                chosen = applied[-1:]
            else:
                anchor = rows.get(target)
                if anchor is None or anchor.status != APPLIED:
                    if target not in self.graph:
                        self.graph.get(target)
                    raise MigrationNotFoundError(
                        f"--to {target}: that migration is not applied, so there is nothing to roll back to; "
                        "`migrate status` lists the applied ones")
                chosen = [r for r in applied if r.applied_order > anchor.applied_order]
            steps = self._plan_down(history, list(reversed(chosen)))
            return self._execute(DOWN, steps, history, rows, dry_run=dry_run)

    def rollback(self, ident: str, *, dry_run: bool = False) -> MigrationResult:
        """Roll back one applied migration that no applied migration depends on."""
        self.graph.get(ident)
        with self.session(write=not dry_run) as (history, rows):
            self.validate(rows)
            row = rows.get(ident)
            if row is None or row.status != APPLIED:
                raise MigrationNotFoundError(f"migration {ident} is not applied, so it cannot be rolled back")
            blockers = [m.id for m in self.graph.dependents(ident) if m.id in rows and rows[m.id].status == APPLIED]
            if blockers:
                raise DependentMigrationError(
                    f"cannot roll back {ident}: applied migration(s) {', '.join(blockers)} depend on it; roll "
                    "them back first")
            steps = self._plan_down(history, [row])
            report = self._execute(DOWN, steps, history, rows, dry_run=dry_run)
            if dry_run:
                return MigrationResult(ident, True, 0.0, None, 0, 0, DOWN, dry_run=True, statements=steps[0].statements)
            return report.results[0]

    def _plan_down(self, history: HistoryTable, chosen: list[HistoryRow]) -> list[Step]:
        from dbkeeper.migrations.executor import plan_step

        dialect = self.connection.dialect
        steps: list[Step] = []
        for row in chosen:
            migration = self.graph.by_id.get(row.id)
            if migration is None:  # allowed by allow_missing: use what the history recorded
                recorded, _ = history.read_extra(row.id)
                migration = Migration(id=row.id, name=row.name, sql="", rollback_sql=recorded)
                migration.checksum = row.checksum
            elif migration.rollback_is_noop:
                steps.append(plan_step(dialect, migration, DOWN))  # deliberate: nothing to undo
                continue
            elif migration.rollback_sql is None or not dialect.split_statements(migration.rollback_sql):
                recorded, _ = history.read_extra(row.id)
                if recorded and dialect.split_statements(recorded):
                    migration = _with_rollback(migration, recorded)
            if migration.rollback_sql is None or not dialect.split_statements(migration.rollback_sql):
                where = f" ({migration.rollback_location})" if migration.source else ""
                raise MissingRollbackError(
                    f"migration {row.id}{where} has no rollback SQL, so the rollback stops before it"
                    + (f" (after {len(steps)} earlier step(s) were planned; nothing was run)" if steps else "")
                    + ". Write its .down.sql (an empty file means: nothing to undo) or a rollback_sql field, "
                    "or restore the schema by hand")
            steps.append(plan_step(dialect, migration, DOWN))
        return steps

    # -- executing -------------------------------------------------------------------------------------
    def _execute(self, direction: str, steps: list[Step], history: HistoryTable, rows: dict[str, HistoryRow],
                 *, dry_run: bool) -> RunReport:
        from dbkeeper.migrations.executor import Executor

        report = RunReport(direction=direction, dry_run=dry_run, steps=steps)
        self.listener.planned(steps)
        if dry_run or not steps:
            return report
        history.ensure()
        executor = Executor(self.connection, history, rows, self.operator)
        total = len(steps)
        for index, step in enumerate(steps):
            self.listener.started(step, index, total)
            result = executor.run(step, last=index == total - 1)
            report.results.append(result)
            self.listener.finished(step, result, index, total)
            if not result.success:
                break
        return report

    # -- baseline ------------------------------------------------------------------------------------------
    def baseline(self, *, target: str | None = None) -> list[str]:
        """Mark pending migrations (up to ``target``) applied without running them; return their ids."""
        if target is not None:
            self.graph.get(target)
        with self.session(write=True) as (history, rows):
            self.validate(rows)
            cutoff = self.graph.position[target] if target is not None else len(self.graph)
            chosen = [m for m in self.graph.ordered[: cutoff + 1]
                      if m.id not in rows or rows[m.id].status != APPLIED]
            order = max((r.applied_order for r in rows.values()), default=0)
            at = now_text()
            op = self.operator
            audit = json.dumps([{"action": "baseline", "at": at, "by": op.describe()}])
            columns = ("id", "name", "checksum", "status", "direction", "run_mode", "applied_order", "applied_at",
                       "execution_time", "statements_executed", "statements_total", "applied_by", "applied_host",
                       "applied_pid", "rollback_sql", "audit")
            inserts: list[tuple[Any, ...]] = []
            if chosen:
                history.ensure()
            with self.connection.transaction() as tx:
                for migration in chosen:
                    order += 1
                    values = (migration.id, migration.name[:255], migration.checksum, APPLIED, UP, MODE_BASELINE,
                              order, at, 0.0, 0, 0, op.user, op.host, op.pid, migration.rollback_sql, audit)
                    if migration.id in rows:
                        history.update(tx, migration.id, dict(zip(columns[1:], values[1:], strict=True)))
                    else:
                        inserts.append(values)
                if inserts:
                    marks = ", ".join("?" for _ in columns)
                    tx.execute_many(f"INSERT INTO {history.qualified} ({', '.join(columns)}) VALUES ({marks})",
                                    inserts)
            return [m.id for m in chosen]

    # -- repair ----------------------------------------------------------------------------------------------
    def repair(self, ident: str, action: str, *, from_statement: int | None = None) -> str:
        """Resolve one migration's failed, interrupted or drifted state; return what was done.

        ``resolve`` marks the interrupted operation as completed (up: applied;
        down: rolled back); ``retry`` runs it again from the first statement
        that was not committed, or from ``from_statement`` when the operator
        knows better (a DDL statement that was interrupted but did commit);
        ``forget`` deletes the failed row so the migration is pending again;
        ``accept-checksum`` records the file's new checksum as accepted. Every
        action is recorded in the row's audit.
        """
        if action not in REPAIR_ACTIONS:
            raise MigrationError(f"unknown repair action {action!r}; choose one of {', '.join(REPAIR_ACTIONS)}")
        with self.session(write=True) as (history, rows):
            row = rows.get(ident)
            if row is None:
                self.graph.get(ident)
                raise MigrationNotFoundError(f"migration {ident} has no history row, so there is nothing to repair")
            event: dict[str, Any] = {"action": action, "at": now_text(), "by": self.operator.describe(),
                                     "status_before": row.status, "statements_executed": row.statements_executed,
                                     "statements_total": row.statements_total}
            if action == "accept-checksum":
                return self._accept_checksum(history, row, event)
            if row.status not in (FAILED, RUNNING):
                raise MigrationError(f"migration {ident} is {row.status}; only failed or interrupted migrations "
                                     "can be resolved, retried or forgotten")
            if action == "forget":
                history.delete(self.connection, ident)
                return f"forgot the {row.status} run of {ident}; it is pending again and will run from statement 1"
            if action == "resolve":
                done = APPLIED if row.direction == UP else ROLLED_BACK
                values: dict[str, Any] = {"status": done, "current_statement": None, "failed_statement": None,
                                          "error_message": None, "statements_executed": row.statements_total}
                if done == APPLIED:
                    values["applied_order"] = max((r.applied_order for r in rows.values()), default=0) + 1
                with self.connection.transaction() as tx:
                    history.update(tx, ident, values)
                    history.append_audit(tx, ident, event)
                return f"marked {ident} as {done} (recorded in its audit trail)"
            return self._retry(history, rows, row, event, from_statement)

    def _accept_checksum(self, history: HistoryTable, row: HistoryRow, event: dict[str, Any]) -> str:
        migration = self.graph.get(row.id)
        if row.checksum == migration.checksum:
            return f"{row.id}: the file matches the recorded checksum; nothing to accept"
        event.update({"from": row.checksum, "to": migration.checksum, "file": migration.location})
        with self.connection.transaction() as tx:
            history.update(tx, row.id, {"checksum": migration.checksum})
            history.append_audit(tx, row.id, event)
        return (f"accepted the changed file of {row.id} ({migration.location}): checksum {row.checksum} -> "
                f"{migration.checksum}, recorded in its audit trail")

    def _retry(self, history: HistoryTable, rows: dict[str, HistoryRow], row: HistoryRow,
               event: dict[str, Any], from_statement: int | None) -> str:
        from dbkeeper.migrations.executor import plan_step

        migration = self.graph.get(row.id)
        start = row.statements_executed + 1 if row.run_mode == MODE_STATEMENTS else 1
        if from_statement is not None:
            if row.run_mode != MODE_STATEMENTS and from_statement != 1:
                raise MigrationError(f"{row.id} ran in one transaction, so none of it was committed; it can only be "
                                     "retried from statement 1")
            if not 1 <= from_statement <= max(1, row.statements_total):
                raise MigrationError(f"--from {from_statement}: {row.id} has {row.statements_total} statement(s)")
            start = from_statement
            event["from_statement"] = from_statement
        if row.checksum != migration.checksum:
            raise ChecksumMismatchError(
                f"{row.id} ({migration.location}) changed since the failed run (recorded {row.checksum}, file "
                f"{migration.checksum}); accept the change first with --accept-checksum, or use --resolve/--forget")
        dialect = self.connection.dialect
        if row.run_mode == MODE_STATEMENTS:
            step = plan_step(dialect, migration, row.direction, start_at=start, mode=MODE_STATEMENTS)
        else:
            step = plan_step(dialect, migration, row.direction)
        history.append_audit(self.connection, row.id, event)
        report = self._execute(row.direction, [step], history, rows, dry_run=False)
        result = report.results[0]
        if not result.success:
            raise RepairRequiredError(f"retrying {row.id} failed again: {result.error_message}")
        return (f"retried {row.id} ({row.direction}) from statement {step.start_at} of {step.total}: "
                f"{'applied' if row.direction == UP else 'rolled back'}")


def _with_rollback(migration: Migration, rollback_sql: str) -> Migration:
    clone = Migration(id=migration.id, name=migration.name, description=migration.description, sql=migration.sql,
                      rollback_sql=rollback_sql, dependencies=list(migration.dependencies),
                      created_at=migration.created_at, source=migration.source, down_source=migration.down_source)
    return clone


def _repair_message(row: HistoryRow) -> str:
    who = f"{row.applied_by}@{row.applied_host} (pid {row.applied_pid})"
    if row.status == RUNNING:
        if row.current_statement is not None:
            k = row.current_statement
            return (f"migration {row.id} was interrupted while statement {k} of {row.statements_total} was "
                    f"running ({row.direction}, run by {who}); that statement commits on its own, so nobody knows "
                    f"whether it took effect. Check the schema, then run `dbkeeper migrate repair {row.id} --retry "
                    f"--from {k + 1}` if it did (or `--resolve` if it was the last), or `--retry` to run it again "
                    f"from statement {k}")
        return (f"migration {row.id} was interrupted during a rollback after {row.statements_executed} of "
                f"{row.statements_total} statements (run by {who}); run `dbkeeper migrate repair {row.id} --retry` "
                "to finish it or `--resolve` to mark it rolled back")
    return (f"migration {row.id} failed ({row.direction}, run by {who}): {row.error_message}. Fix the cause, then "
            f"run `dbkeeper migrate repair {row.id} --retry` to run it again from statement "
            f"{row.statements_executed + 1}, or `--resolve` if you completed it by hand")
