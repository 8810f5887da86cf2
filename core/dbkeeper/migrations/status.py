"""What ``migrate status`` reports: every migration's state in one database.

Built from the file graph and the history snapshot by hashing ids (linear
in the number of migrations), and rendered as a plain aligned table, which
prints 10,000 rows in milliseconds where a rich table would take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from dbkeeper.migrations.history import MODE_STATEMENTS, MODE_TRANSACTION, RUNNING, HistoryRow
from dbkeeper.migrations.model import APPLIED, FAILED, PENDING, ROLLED_BACK, Migration
from dbkeeper.migrations.planner import MigrationGraph

DRIFTED = "drifted"
INTERRUPTED = "interrupted"
MISSING = "missing"
#: Display order of the summary line.
STATE_ORDER = (APPLIED, PENDING, FAILED, INTERRUPTED, DRIFTED, ROLLED_BACK, MISSING)


@dataclass(slots=True)
class MigrationState:
    """One line of the status table."""

    id: str
    name: str
    state: str
    file: str | None = None
    applied_at: str | None = None
    applied_by: str | None = None
    checksum: str | None = None
    recorded_checksum: str | None = None
    statements_executed: int | None = None
    statements_total: int | None = None
    failed_statement: int | None = None
    error_message: str | None = None
    needs_repair: bool = False
    run_mode: str | None = None
    #: ``sql`` (rolling back runs SQL), ``no-op`` (an empty rollback: deliberately nothing to undo), ``none``.
    rollback: str | None = None
    rollback_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass
class StatusReport:
    """Every migration's state plus a summary; ``problems`` says what blocks the next run."""

    database: str
    table: str
    entries: list[MigrationState] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many migrations are in each state."""
        counts = dict.fromkeys(STATE_ORDER, 0)
        for entry in self.entries:
            counts[entry.state] = counts.get(entry.state, 0) + 1
        return counts

    @property
    def problems(self) -> list[MigrationState]:
        """Entries that block ``up``: drift, missing files, failures and interruptions needing repair."""
        return [e for e in self.entries if e.state in (DRIFTED, MISSING) or e.needs_repair]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``migrate status --json``)."""
        return {
            "database": self.database,
            "table": self.table,
            "summary": self.counts,
            "ok": not self.problems,
            "migrations": [e.to_dict() for e in self.entries],
        }


def needs_repair(row: HistoryRow) -> bool:
    """A row that only ``repair`` can clear: a partial failure, or a stop inside a statement."""
    if row.status == FAILED:
        return row.run_mode == MODE_STATEMENTS
    if row.status == RUNNING:
        return row.current_statement is not None or row.direction != "up"
    return False


def build_report(graph: MigrationGraph, rows: dict[str, HistoryRow], *, database: str, table: str) -> StatusReport:
    """Join files and history by id into a :class:`StatusReport`."""
    report = StatusReport(database=database, table=table)
    for migration in graph:
        row = rows.get(migration.id)
        report.entries.append(_state(migration, row))
    orphans = sorted((r for r in rows.values() if r.id not in graph and r.status != ROLLED_BACK
                      and not (r.status == FAILED and r.run_mode == MODE_TRANSACTION)),
                     key=lambda r: r.applied_order)
    for row in orphans:
        report.entries.append(MigrationState(
            id=row.id, name=row.name, state=MISSING, applied_at=row.applied_at, applied_by=row.applied_by,
            recorded_checksum=row.checksum, statements_executed=row.statements_executed,
            statements_total=row.statements_total, run_mode=row.run_mode,
        ))
    return report


def _rollback_kind(migration: Migration) -> str:
    """What rolling ``migration`` back does: runs SQL, deliberately nothing, or cannot (no rollback at all)."""
    if migration.rollback_is_noop:
        return "no-op"
    return "none" if migration.rollback_sql is None else "sql"


def _state(migration: Migration, row: HistoryRow | None) -> MigrationState:
    rollback_file = str(migration.down_source) if migration.down_source is not None else None
    if row is not None and row.status == APPLIED and row.checksum == migration.checksum:  # the common case, fast
        return MigrationState(migration.id, migration.name, APPLIED, migration.location, row.applied_at,
                              f"{row.applied_by}@{row.applied_host}" if row.applied_by else None, migration.checksum,
                              row.checksum, row.statements_executed, row.statements_total, None, None, False,
                              row.run_mode, _rollback_kind(migration), rollback_file)
    entry = MigrationState(id=migration.id, name=migration.name, state=PENDING, file=migration.location,
                           checksum=migration.checksum, rollback=_rollback_kind(migration),
                           rollback_file=rollback_file)
    if row is None:
        return entry
    entry.recorded_checksum = row.checksum
    entry.applied_at = row.applied_at
    entry.applied_by = f"{row.applied_by}@{row.applied_host}" if row.applied_by else None
    entry.statements_executed = row.statements_executed
    entry.statements_total = row.statements_total
    entry.failed_statement = row.failed_statement
    entry.error_message = row.error_message
    entry.run_mode = row.run_mode
    entry.needs_repair = needs_repair(row)
    drifted = row.checksum != migration.checksum
    if row.status == APPLIED:
        entry.state = DRIFTED if drifted else APPLIED
    elif row.status == RUNNING:
        entry.state = DRIFTED if drifted else INTERRUPTED
    elif row.status == FAILED:
        entry.state = DRIFTED if drifted and entry.needs_repair else FAILED
    elif row.status == ROLLED_BACK:
        entry.state = ROLLED_BACK
    return entry


def migration_status(row: HistoryRow | None) -> str:
    """The seed API's four-valued status of a migration with history ``row``."""
    if row is None:
        return PENDING
    if row.status == RUNNING:
        return FAILED
    return row.status if row.status in (APPLIED, FAILED, ROLLED_BACK) else PENDING


# -- rendering --------------------------------------------------------------------------------
def render_table(report: StatusReport, *, show_all: bool = False, limit: int = 40) -> str:
    """The report as an aligned text table; long runs of applied migrations are folded unless ``show_all``."""
    entries = report.entries
    lines: list[str] = []
    header = ("ID", "NAME", "STATE", "APPLIED AT", "BY", "NOTE")
    rows: list[tuple[str, ...]] = []
    folded = 0
    keep = set(range(len(entries)))
    if not show_all and len(entries) > limit:
        keep = {i for i, e in enumerate(entries) if e.state != APPLIED}
        applied = [i for i, e in enumerate(entries) if e.state == APPLIED]
        keep.update(applied[-5:])
        folded = len(entries) - len(keep)
    first_kept = min(keep) if keep else 0
    for index, entry in enumerate(entries):
        if index not in keep:
            continue
        if folded and index == first_kept:
            rows.append(("...", f"{folded} earlier applied migrations (use --all to list them)", "", "", "", ""))
        rows.append((entry.id, _clip(entry.name, 40), entry.state, (entry.applied_at or "")[:19].replace("T", " "),
                     entry.applied_by or "", _note(entry)))
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(6)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines.append(fmt.format(*header).rstrip())
    lines.extend(fmt.format(*row).rstrip() for row in rows)
    counts = report.counts
    summary = ", ".join(f"{counts[s]} {s}" for s in STATE_ORDER if counts.get(s))
    lines.append("")
    lines.append(f"{len(entries)} migrations in {report.database} (table {report.table}): {summary or 'none'}")
    if report.problems:
        lines.append("the next `migrate up` will refuse to run: " + "; ".join(_advice(e) for e in report.problems[:5]))
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _note(entry: MigrationState) -> str:
    if entry.state == DRIFTED:
        return f"file changed: recorded {entry.recorded_checksum[:12] if entry.recorded_checksum else '?'}, " \
               f"file {entry.checksum[:12] if entry.checksum else '?'}"
    if entry.state in (FAILED, INTERRUPTED):
        where = f"statement {entry.failed_statement}" if entry.failed_statement else \
            f"after statement {entry.statements_executed}"
        text = f"at {where} of {entry.statements_total}"
        if entry.needs_repair:
            text += "; needs repair"
        return text
    if entry.state == MISSING:
        return "applied, but no file defines it"
    notes = []
    if entry.run_mode == "baseline" and entry.state == APPLIED:
        notes.append("baseline")
    if entry.rollback == "no-op":
        name = PurePath(entry.rollback_file).name if entry.rollback_file else "rollback_sql"
        notes.append(f"rollback is a no-op (empty {name})")
    return "; ".join(notes)


def _advice(entry: MigrationState) -> str:
    if entry.state == DRIFTED:
        return f"{entry.id} drifted (repair {entry.id} --accept-checksum)"
    if entry.state == MISSING:
        return f"{entry.id} has no file (restore it, or pass --allow-missing)"
    return f"{entry.id} {entry.state} (repair {entry.id} --retry or --resolve)"
