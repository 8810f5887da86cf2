"""Order a diff's operations by their dependencies, and fold SQLite's impossible ALTERs into table rebuilds.

The order (see ``docs/schema.md``): views that depend on anything changed
are dropped first and recreated last; foreign keys are dropped before the
indexes and columns they rely on and added after the tables and columns
they reference; new tables are created parents first, dropped tables are
dropped children first; enum and sequence types exist before the columns
that use them and are dropped after. A foreign key whose column changes
type is dropped and re-added around the change.

On SQLite, whose ALTER TABLE can only rename, add simple columns and drop
columns, every other change to a table becomes one :class:`RebuildTable`:
the documented procedure (https://www.sqlite.org/lang_altertable.html#otheralter),
run with foreign keys off so rebuilding a parent cannot cascade into its children.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from dbkeeper.schema import operations as ops
from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.diff import RawDiff, TableDiff
from dbkeeper.schema.expressions import referenced_names
from dbkeeper.schema.model import SchemaDefinition, SchemaTable, SchemaView

_PHASES: tuple[tuple[type[ops.Operation], ...], ...] = (
    (ops.DropView,),
    (ops.CreateEnum, ops.CreateSequence, ops.AlterSequence, ops.AlterEnum),
    (ops.DropForeignKey,),
    (ops.DropIndex, ops.DropUnique, ops.DropCheck),
    (ops.RenameTable,),
    (ops.RenameColumn,),
    (ops.CreateTable,),
    (ops.AddColumn, ops.AlterColumn, ops.SetPrimaryKey, ops.SetTableComment),
    (ops.DropColumn,),
    (ops.RebuildTable,),
    (ops.AddUnique, ops.AddCheck, ops.CreateIndex),
    (ops.AddForeignKey,),
    (ops.DropTable,),
    (ops.DropEnum, ops.DropSequence),
    (ops.CreateView,),
)


def plan(raw: RawDiff, current: SchemaDefinition, target: SchemaDefinition, r: DDLRenderer) -> list[ops.Operation]:
    """The operations of ``raw`` in a safe execution order for ``r``'s dialect."""
    collected: list[ops.Operation] = list(raw.operations)
    for table_diff in raw.tables:
        if not table_diff.operations:
            continue
        if not r.alter_table and _needs_rebuild(table_diff):
            collected.append(_rebuild(table_diff))
        else:
            collected.extend(table_diff.operations)
    if r.alter_table:
        collected.extend(_fk_bridges(collected, current))
    collected = _with_view_recreation(collected, current, target)
    ordered: list[ops.Operation] = []
    for phase in _PHASES:
        batch = [op for op in collected if isinstance(op, phase)]
        if phase == (ops.CreateTable,):
            batch = _created_in_order(batch, r)
            ordered.extend(batch)
            ordered.extend(_deferred_fks(batch))
            continue
        if phase == (ops.DropTable,):
            batch = _dropped_in_order(batch)
        if phase == (ops.CreateView,):
            batch = _views_in_order(batch, reverse=False)
        if phase == (ops.DropView,):
            batch = _views_in_order(batch, reverse=True)
        ordered.extend(batch)
    return ordered


# -- SQLite rebuilds ------------------------------------------------------------------------------------------
def _simple_add(op: ops.AddColumn) -> bool:
    c = op.column
    constant_default = c.default_expression is None
    return (constant_default and not c.primary_key and not (c.generated and c.generated_stored)
            and (c.nullable or c.default is not None))


def _needs_rebuild(diff: TableDiff) -> bool:
    for op in diff.operations:
        if isinstance(op, ops.RenameColumn | ops.CreateIndex | ops.DropIndex):
            continue
        if isinstance(op, ops.AddColumn) and _simple_add(op):
            continue
        return True
    return False


def _rebuild(diff: TableDiff) -> ops.RebuildTable:
    kept = tuple((new, old) for new, old in diff.column_map.items())
    return ops.RebuildTable(old=diff.old, new=diff.new, column_map=kept, changes=tuple(diff.operations))


# -- foreign keys around type changes ---------------------------------------------------------------------------
def _fk_bridges(collected: list[ops.Operation], current: SchemaDefinition) -> list[ops.Operation]:
    retyped = {(op.table, op.old.name) for op in collected if isinstance(op, ops.AlterColumn) and "type" in op.changes}
    if not retyped:
        return []
    dropped = {(op.table, op.fk.name) for op in collected if isinstance(op, ops.DropForeignKey)}
    renamed = {op.old: op.new for op in collected if isinstance(op, ops.RenameTable)}
    bridges: list[ops.Operation] = []
    for table in current.tables:
        for fk in table.foreign_keys:
            touches = any((table.name, c) in retyped for c in fk.columns) or any(
                (fk.referred_table, c) in retyped for c in fk.referred_columns)
            if touches and (table.name, fk.name) not in dropped:
                bridges.append(ops.DropForeignKey(table.name, fk))
                moved = replace(fk, referred_table=renamed.get(fk.referred_table, fk.referred_table))
                bridges.append(ops.AddForeignKey(renamed.get(table.name, table.name), moved))
    return bridges


# -- views ---------------------------------------------------------------------------------------------------------
def _touched_tables(collected: Iterable[ops.Operation]) -> set[str]:
    touched: set[str] = set()
    for op in collected:
        if isinstance(op, ops.AlterColumn | ops.DropColumn | ops.RenameColumn | ops.AddColumn):
            touched.add(op.table)
        elif isinstance(op, ops.RebuildTable):
            touched.update({op.old.name, op.new.name})
        elif isinstance(op, ops.DropTable):
            touched.add(op.table.name)
        elif isinstance(op, ops.RenameTable):
            touched.update({op.old, op.new})
        elif isinstance(op, ops.AlterEnum):
            touched.update(t for t, _ in op.users)
    return touched


def _with_view_recreation(collected: list[ops.Operation], current: SchemaDefinition,
                          target: SchemaDefinition) -> list[ops.Operation]:
    dropping = {op.view.name for op in collected if isinstance(op, ops.DropView)}
    creating = {op.view.name for op in collected if isinstance(op, ops.CreateView)}
    touched = _touched_tables(collected) | dropping
    names = {t.name for t in current.tables} | {v.name for v in current.views}
    changed = True
    while changed:
        changed = False
        for view in current.views:
            if view.name in dropping:
                continue
            if referenced_names(view.definition, names - {view.name}) & touched:
                dropping.add(view.name)
                touched.add(view.name)
                collected.append(ops.DropView(view))
                changed = True
    wanted = {v.name: v for v in target.views}
    for name in dropping - creating:
        if name in wanted:
            collected.append(ops.CreateView(wanted[name]))
    return collected


def _views_in_order(batch: list[ops.Operation], *, reverse: bool) -> list[ops.Operation]:
    views: dict[str, SchemaView] = {op.view.name: op.view for op in batch
                                    if isinstance(op, ops.DropView | ops.CreateView)}
    deps = {name: referenced_names(v.definition, set(views) - {name}) for name, v in views.items()}
    order = _topological(sorted(views), deps)
    if reverse:
        order.reverse()
    by_name = {op.view.name: op for op in batch if isinstance(op, ops.DropView | ops.CreateView)}
    return [by_name[n] for n in order]


# -- tables ----------------------------------------------------------------------------------------------------------
def _topological(names: list[str], deps: dict[str, set[str]]) -> list[str]:
    """Dependencies first; a cycle is broken in name order (the caller defers the cyclic parts)."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            return  # cycle: leave it to the caller
        state[name] = 1
        for dep in sorted(deps.get(name, ())):
            if dep in deps:
                visit(dep)
        state[name] = 2
        order.append(name)

    for name in names:
        visit(name)
    return order


def _created_in_order(batch: list[ops.Operation], r: DDLRenderer) -> list[ops.Operation]:
    tables: dict[str, SchemaTable] = {op.table.name: op.table for op in batch if isinstance(op, ops.CreateTable)}
    deps = {n: {fk.referred_table for fk in t.foreign_keys if fk.referred_table != n} for n, t in tables.items()}
    order = _topological(sorted(tables), deps)
    position = {n: i for i, n in enumerate(order)}
    result: list[ops.Operation] = []
    for name in order:
        table = tables[name]
        deferred = tuple(i for i, fk in enumerate(table.foreign_keys)
                         if r.alter_table and position.get(fk.referred_table, -1) > position[name])
        result.append(ops.CreateTable(table, deferred))
    return result


def _deferred_fks(batch: list[ops.Operation]) -> list[ops.Operation]:
    return [ops.AddForeignKey(op.table.name, op.table.foreign_keys[i])
            for op in batch if isinstance(op, ops.CreateTable) for i in op.deferred_fks]


def _dropped_in_order(batch: list[ops.Operation]) -> list[ops.Operation]:
    tables = {op.table.name: op for op in batch if isinstance(op, ops.DropTable)}
    deps = {n: {fk.referred_table for fk in op.table.foreign_keys if fk.referred_table != n}
            for n, op in tables.items()}
    order = _topological(sorted(tables), deps)
    order.reverse()
    return [tables[n] for n in order]
