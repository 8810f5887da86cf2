"""Compare two normalised schema definitions into a list of operations.

Objects are matched by name, except where names carry no meaning: foreign
keys, unique constraints and indexes by what they cover, checks by their
normalised expression, so a database that named an object itself does not
look different from a definition that left it unnamed. Renames happen only
through explicit hints (``renamed_from``); a drop plus an add that look like
a rename become a *suggestion* in the result, never a rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dbkeeper.schema import operations as ops
from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.expressions import expression_key, view_key
from dbkeeper.schema.model import SchemaColumn, SchemaDefinition, SchemaForeignKey, SchemaTable
from dbkeeper.schema.types import is_narrowing, parse_type


@dataclass
class RenameHints:
    """Explicit renames: new table name -> old, and (new table, new column) -> old column."""

    tables: dict[str, str] = field(default_factory=dict)
    columns: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_definition(cls, schema: SchemaDefinition) -> RenameHints:
        """The ``renamed_from`` hints written in a (target) definition."""
        hints = cls()
        for table in schema.tables:
            if table.renamed_from:
                hints.tables[table.name] = table.renamed_from
            for column in table.columns:
                if column.renamed_from:
                    hints.columns[(table.name, column.name)] = column.renamed_from
        return hints

    def inverted(self) -> RenameHints:
        """The hints for going back (rollback): old and new swapped."""
        tables = {old: new for new, old in self.tables.items()}
        columns = {(self.tables.get(t, t), old): new for (t, new), old in self.columns.items()}
        return RenameHints(tables, columns)


@dataclass
class TableDiff:
    """The raw per-table changes before planning (kept apart so SQLite can fold them into a rebuild)."""

    old: SchemaTable
    new: SchemaTable
    operations: list[ops.Operation] = field(default_factory=list)
    #: new column name -> old column name, for every column that survives (renamed or not).
    column_map: dict[str, str] = field(default_factory=dict)


@dataclass
class RawDiff:
    """What the differ found: top-level operations, per-table changes and rename suggestions."""

    operations: list[ops.Operation] = field(default_factory=list)
    tables: list[TableDiff] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)


def column_changes(old: SchemaColumn, new: SchemaColumn, r: DDLRenderer) -> tuple[list[str], bool]:
    """Which aspects of a column differ (after normalisation), and whether the type change narrows."""
    changes: list[str] = []
    narrowing = False
    # A named enum's values are the enum's business (AlterEnum); the column only names it.
    enum_differs = old.enum != new.enum if r.named_enums else old.enum_values != new.enum_values
    if old.type != new.type or (old.type == "ENUM" and enum_differs):
        changes.append("type")
        if old.type == new.type == "ENUM":
            narrowing = not r.named_enums and not set(old.enum_values) <= set(new.enum_values)
        else:
            narrowing = is_narrowing(parse_type(old.type, strict=False), parse_type(new.type, strict=False))
    if old.nullable != new.nullable:
        changes.append("nullable")
    old_expr = expression_key(old.default_expression) if old.default_expression is not None else None
    new_expr = expression_key(new.default_expression) if new.default_expression is not None else None
    if old.default != new.default or old_expr != new_expr:
        changes.append("default")
    if old.autoincrement != new.autoincrement:
        changes.append("identity")
    if old.comment != new.comment:
        changes.append("comment")
    old_gen = expression_key(old.generated) if old.generated else None
    new_gen = expression_key(new.generated) if new.generated else None
    if old_gen != new_gen or (old_gen and old.generated_stored != new.generated_stored):
        changes.append("generated")
    return changes, narrowing


def diff_schemas(current: SchemaDefinition, target: SchemaDefinition, renderer: DDLRenderer,
                 hints: RenameHints | None = None) -> RawDiff:
    """Operations that turn ``current`` into ``target`` (both already normalised for ``renderer``)."""
    hints = hints or RenameHints()
    result = RawDiff()
    current_tables = {t.name: t for t in current.tables}
    target_names = {t.name for t in target.tables}
    table_map: dict[str, str] = {}  # new name -> old name
    for table in target.tables:
        if table.name in current_tables:
            table_map[table.name] = table.name
            continue
        old = hints.tables.get(table.name)
        if old and old in current_tables and old not in target_names:
            table_map[table.name] = old
            result.operations.append(ops.RenameTable(old, table.name))
        else:
            result.operations.append(ops.CreateTable(table))
    kept_old = set(table_map.values())
    dropped = [t for t in current.tables if t.name not in kept_old]
    result.operations.extend(ops.DropTable(t) for t in dropped)
    created = [op.table for op in result.operations if isinstance(op, ops.CreateTable)]
    _suggest_table_renames(dropped, created, result.suggestions)

    column_maps: dict[str, dict[str, str]] = {}
    for table in target.tables:
        if table.name in table_map:
            column_maps[table.name] = _column_map(current_tables[table_map[table.name]], table, hints)
    for table in target.tables:
        if table.name not in table_map:
            continue
        before = current_tables[table_map[table.name]]
        result.tables.append(_diff_table(before, table, renderer, column_map=column_maps[table.name],
                                         table_map=table_map, column_maps=column_maps, suggestions=result.suggestions))
    _diff_objects(current, target, renderer, result)
    return result


def _column_map(old: SchemaTable, new: SchemaTable, hints: RenameHints) -> dict[str, str]:
    old_names = {c.name for c in old.columns}
    new_names = {c.name for c in new.columns}
    mapping: dict[str, str] = {}
    for column in new.columns:
        if column.name in old_names:
            mapping[column.name] = column.name
            continue
        previous = hints.columns.get((new.name, column.name))
        if previous and previous in old_names and previous not in new_names:
            mapping[column.name] = previous
    return mapping


def _diff_table(old: SchemaTable, new: SchemaTable, r: DDLRenderer, *, column_map: dict[str, str],
                table_map: dict[str, str], column_maps: dict[str, dict[str, str]], suggestions: list[str]) -> TableDiff:
    diff = TableDiff(old, new, column_map=dict(column_map))
    # Drops run before renames (see the planner), so they name the table by its old name.
    out = diff.operations
    name = new.name
    to_new = {o: n for n, o in column_map.items()}
    for new_name, old_name in column_map.items():
        if new_name != old_name:
            out.append(ops.RenameColumn(name, old_name, new_name))
    added = [c for c in new.columns if c.name not in column_map]
    removed = [c for c in old.columns if c.name not in to_new]
    for column in new.columns:
        if column.name in column_map:
            before = old.column(column_map[column.name])
            assert before is not None
            changes, narrowing = column_changes(before, column, r)
            if r.integer_pk_is_identity and new.primary_key == (column.name,) and column.type == "INTEGER":
                changes = [c for c in changes if c != "identity"]  # a rowid alias is auto-assigned either way
            if changes:
                out.append(ops.AlterColumn(name, before, column, tuple(changes), narrowing))
    out.extend(ops.AddColumn(name, c) for c in added)
    out.extend(ops.DropColumn(name, c) for c in removed)
    for gone in removed:
        for fresh in added:
            if gone.type == fresh.type:
                suggestions.append(f"column {name}.{fresh.name} looks like a rename of {gone.name}: add "
                                   f"renamed_from={gone.name!r} to keep its data")
    old_pk = tuple(to_new.get(c, f"\0{c}") for c in old.primary_key)
    if old_pk != new.primary_key:
        out.append(ops.SetPrimaryKey(name, old.primary_key, new.primary_key, old.primary_key_name))

    def mapped(cols: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(to_new.get(c, f"\0{c}") for c in cols)

    inverse_tables = {o: n for n, o in table_map.items()}

    def fk_key(fk: SchemaForeignKey, *, is_old: bool) -> tuple[object, ...]:
        columns = mapped(fk.columns) if is_old else fk.columns
        referred, referred_cols = fk.referred_table, tuple(fk.referred_columns)
        if is_old:
            referred = inverse_tables.get(referred, f"\0{referred}")
            back = {o: n for n, o in column_maps.get(referred, {}).items()}
            referred_cols = tuple(back.get(c, f"\0{c}") for c in referred_cols)
        return (columns, referred, referred_cols, fk.on_delete, fk.on_update)

    old_fks = {fk_key(f, is_old=True): f for f in old.foreign_keys}
    new_fks = {fk_key(f, is_old=False): f for f in new.foreign_keys}
    out.extend(ops.DropForeignKey(old.name, f) for k, f in old_fks.items() if k not in new_fks)
    out.extend(ops.AddForeignKey(name, f) for k, f in new_fks.items() if k not in old_fks)

    old_uq = {mapped(u.columns): u for u in old.unique_constraints}
    new_uq = {u.columns: u for u in new.unique_constraints}
    out.extend(ops.DropUnique(old.name, u) for k, u in old_uq.items() if k not in new_uq)
    out.extend(ops.AddUnique(name, u) for k, u in new_uq.items() if k not in old_uq)

    old_ck = {expression_key(c.expression): c for c in old.checks}
    new_ck = {expression_key(c.expression): c for c in new.checks}
    out.extend(ops.DropCheck(old.name, c) for k, c in old_ck.items() if k not in new_ck)
    out.extend(ops.AddCheck(name, c) for k, c in new_ck.items() if k not in old_ck)

    old_ix = {(mapped(i.columns), i.unique): i for i in old.indexes}
    new_ix = {(i.columns, i.unique): i for i in new.indexes}
    out.extend(ops.DropIndex(old.name, i) for k, i in old_ix.items() if k not in new_ix)
    out.extend(ops.CreateIndex(name, i) for k, i in new_ix.items() if k not in old_ix)

    if r.comments and old.comment != new.comment:
        out.append(ops.SetTableComment(name, old.comment, new.comment))
    return diff


def _suggest_table_renames(dropped: list[SchemaTable], created: list[SchemaTable], suggestions: list[str]) -> None:
    for gone in dropped:
        signature = sorted((c.name, c.type) for c in gone.columns)
        for fresh in created:
            if sorted((c.name, c.type) for c in fresh.columns) == signature:
                suggestions.append(f"table {fresh.name} looks like a rename of {gone.name}: add "
                                   f"renamed_from={gone.name!r} to keep its data")


def _diff_objects(current: SchemaDefinition, target: SchemaDefinition, r: DDLRenderer, result: RawDiff) -> None:
    old_enums = {e.name: e for e in current.enums}
    new_enums = {e.name: e for e in target.enums}
    for name, enum in new_enums.items():
        if name not in old_enums:
            result.operations.append(ops.CreateEnum(enum))
        elif old_enums[name].values != enum.values:
            users = tuple((t.name, c.name) for t in target.tables for c in t.columns if c.enum == name)
            result.operations.append(ops.AlterEnum(old_enums[name], enum, users))
    result.operations.extend(ops.DropEnum(e) for n, e in old_enums.items() if n not in new_enums)

    old_seq = {s.name: s for s in current.sequences}
    new_seq = {s.name: s for s in target.sequences}
    for name, seq in new_seq.items():
        if name not in old_seq:
            result.operations.append(ops.CreateSequence(seq))
        elif (old_seq[name].start, old_seq[name].increment) != (seq.start, seq.increment):
            result.operations.append(ops.AlterSequence(old_seq[name], seq))
    result.operations.extend(ops.DropSequence(s) for n, s in old_seq.items() if n not in new_seq)

    old_views = {v.name: v for v in current.views}
    new_views = {v.name: v for v in target.views}
    qualifiers = (current.name,) if current.dialect else ()
    for name, view in new_views.items():
        before = old_views.get(name)
        if before is None:
            result.operations.append(ops.CreateView(view))
        elif view_key(before.definition, qualifiers=qualifiers) != view_key(view.definition, qualifiers=qualifiers):
            result.operations.append(ops.DropView(before))
            result.operations.append(ops.CreateView(view))
    result.operations.extend(ops.DropView(v) for n, v in old_views.items() if n not in new_views)
