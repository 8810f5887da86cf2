"""``DDLRenderer``: turns schema objects and diff operations into one dialect's SQL.

The base class writes standard SQL in PostgreSQL's flavour; each dialect
plugin subclasses it in its ``schema_support`` module and overrides what its
database spells differently (types, ``MODIFY COLUMN``, inline comments, the
SQLite rebuild). Every identifier goes through the dialect's
``quote_identifier``, so names with quotes, spaces, reserved words or
unicode work everywhere.

The class attributes are the dialect's schema capabilities; the
normaliser (:mod:`dbkeeper.schema.normalize`) and the planner read them.

SQLAlchemy's DDL compiler is not used for the statements themselves: it has
no ALTER statements (that is alembic's job), and for CREATE TABLE the
identity, enum, comment and generated-column spellings we need differ per
dialect anyway; rendering directly keeps rendering and introspection
symmetrical, which is what makes diffs settle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dbkeeper.schema import operations as ops
from dbkeeper.schema.errors import SchemaError
from dbkeeper.schema.model import (
    SchemaColumn,
    SchemaEnum,
    SchemaForeignKey,
    SchemaIndex,
    SchemaSequence,
    SchemaTable,
    SchemaView,
)
from dbkeeper.schema.types import ColumnType, parse_type

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect


class DDLRenderer:
    """Standard-SQL renderer; dialects override the parts they spell differently."""

    #: Named enum types exist (PostgreSQL); otherwise enums live on the column.
    named_enums = False
    #: Enums are inline column types (MySQL); otherwise (SQLite) they become TEXT plus a CHECK.
    inline_enums = False
    #: Table and column comments can be stored.
    comments = True
    #: Sequences exist as objects of their own.
    sequences = False
    #: ``ALTER TABLE`` can change columns and constraints (False: SQLite rebuilds the table).
    alter_table = True
    #: Generated columns can be virtual (PostgreSQL only stores them).
    virtual_generated = True
    #: Unique indexes and unique constraints are the same thing (MySQL).
    unique_index_is_constraint = False
    #: ``ON DELETE/UPDATE RESTRICT`` means the same as no action (MySQL/InnoDB).
    restrict_is_no_action = False
    #: A single INTEGER primary key is auto-assigned with or without the identity keyword (SQLite's rowid),
    #: so the flag alone is not a difference.
    integer_pk_is_identity = False

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    # -- text ---------------------------------------------------------------------------------------------
    def q(self, name: str) -> str:
        """Quote one identifier with the dialect's rules."""
        return self.dialect.quote_identifier(name)

    def cols(self, names: Sequence[str]) -> str:
        """A parenthesised, quoted column list."""
        return "(" + ", ".join(self.q(n) for n in names) + ")"

    def string(self, value: str) -> str:
        """A string literal, quotes doubled (and backslashes where the dialect escapes with them)."""
        text = value.replace("'", "''")
        if self.dialect.backslash_escapes:
            text = text.replace("\\", "\\\\")
        return f"'{text}'"

    def literal(self, value: Any, ctype: ColumnType) -> str:
        """A literal default value for a column of type ``ctype``."""
        if isinstance(value, bool) or ctype.name == "BOOLEAN":
            return self.boolean(bool(value) if not isinstance(value, str) else value.lower() in ("1", "true", "t"))
        if isinstance(value, int | float):
            return repr(value)
        if ctype.name in ("SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE", "NUMERIC"):
            return str(value)
        return self.string(str(value))

    def boolean(self, value: bool) -> str:
        """Boolean literal."""
        return "TRUE" if value else "FALSE"

    # -- types ----------------------------------------------------------------------------------------------
    #: Portable name -> native spelling (arguments appended by :meth:`render_type`).
    type_names: Mapping[str, str] = {}

    def render_type(self, column: SchemaColumn) -> str:
        """The native type of ``column``."""
        ctype = parse_type(column.type, strict=False)
        if not ctype.known:
            return ctype.raw or column.type
        if ctype.name == "ENUM":
            return self.enum_type(column)
        native = self.type_names.get(ctype.name, ctype.name)
        if ctype.args and "(" not in native:
            native += "(" + ",".join(str(a) for a in ctype.args) + ")"
        return native

    def enum_type(self, column: SchemaColumn) -> str:
        """The native type of an enum column (overridden per dialect)."""
        raise SchemaError(f"{self.dialect.name} cannot render enum column {column.name!r}")

    def parse_native_type(self, text: str) -> ColumnType:
        """A type as the catalog reports it, in the portable vocabulary (unknown ones kept verbatim)."""
        return parse_type(text, strict=False)

    def canonical_type(self, column: SchemaColumn) -> str:
        """The portable type ``column`` reads back as after a round trip through this database."""
        if parse_type(column.type, strict=False).name == "ENUM":
            return "ENUM"
        return str(self.parse_native_type(self.render_type(column)))

    def normalize_table(self, table: SchemaTable) -> None:
        """Dialect-specific normalisation of one table, after the generic rules (:mod:`dbkeeper.schema.normalize`)."""

    # -- column and table definitions ----------------------------------------------------------------------------
    def default_sql(self, column: SchemaColumn) -> str | None:
        """The ``DEFAULT`` clause's value, or ``None``."""
        if column.default_expression is not None:
            return column.default_expression
        if column.default is not None:
            return self.literal(column.default, parse_type(column.type, strict=False))
        return None

    def identity_sql(self, column: SchemaColumn) -> str:
        """Identity clause of an autoincrement column."""
        return "GENERATED BY DEFAULT AS IDENTITY"

    def generated_sql(self, column: SchemaColumn) -> str:
        """The generated-column clause."""
        kind = "STORED" if column.generated_stored or not self.virtual_generated else "VIRTUAL"
        return f"GENERATED ALWAYS AS ({column.generated}) {kind}"

    def column_sql(self, table: SchemaTable, column: SchemaColumn) -> str:
        """One column definition inside CREATE TABLE / ADD COLUMN."""
        parts = [self.q(column.name), self.render_type(column)]
        if column.generated is not None:
            parts.append(self.generated_sql(column))
        else:
            default = self.default_sql(column)
            if default is not None:
                parts.append(f"DEFAULT {default}")
        if not column.nullable:
            parts.append("NOT NULL")
        if column.autoincrement:
            parts.append(self.identity_sql(column))
        if self.comments and column.comment is not None:
            inline = self.inline_column_comment(column)
            if inline:
                parts.append(inline)
        return " ".join(parts)

    def inline_column_comment(self, column: SchemaColumn) -> str:
        """Inline comment clause (MySQL); the standard uses COMMENT ON statements instead."""
        return ""

    def fk_sql(self, fk: SchemaForeignKey) -> str:
        """``CONSTRAINT name FOREIGN KEY (...) REFERENCES ...``."""
        text = (f"CONSTRAINT {self.q(fk.name or '')} FOREIGN KEY {self.cols(fk.columns)} "
                f"REFERENCES {self.q(fk.referred_table)} {self.cols(fk.referred_columns)}")
        if fk.on_delete:
            text += f" ON DELETE {fk.on_delete}"
        if fk.on_update:
            text += f" ON UPDATE {fk.on_update}"
        return text

    def primary_key_sql(self, table: SchemaTable) -> str | None:
        """The table-level primary key clause, or ``None`` when there is none (or it is inline)."""
        return f"PRIMARY KEY {self.cols(table.primary_key)}" if table.primary_key else None

    def table_body(self, table: SchemaTable, *, skip_fks: Sequence[int] = ()) -> list[str]:
        """The lines inside ``CREATE TABLE (...)``."""
        lines = [self.column_sql(table, c) for c in table.columns]
        pk = self.primary_key_sql(table)
        if pk:
            lines.append(pk)
        lines.extend(f"CONSTRAINT {self.q(u.name or '')} UNIQUE {self.cols(u.columns)}"
                     for u in table.unique_constraints)
        lines.extend(f"CONSTRAINT {self.q(c.name or '')} CHECK ({c.expression})" for c in table.checks)
        lines.extend(self.fk_sql(fk) for i, fk in enumerate(table.foreign_keys) if i not in skip_fks)
        return lines

    def create_table(self, table: SchemaTable, *, name: str | None = None, if_not_exists: bool = False,
                     skip_fks: Sequence[int] = (), with_indexes: bool = True) -> list[str]:
        """CREATE TABLE plus its indexes and comments."""
        head = "CREATE TABLE IF NOT EXISTS" if if_not_exists else "CREATE TABLE"
        body = ",\n    ".join(self.table_body(table, skip_fks=skip_fks))
        statements = [f"{head} {self.q(name or table.name)} (\n    {body}\n){self.table_options(table)}"]
        if with_indexes:
            statements.extend(self.create_index(table.name, index, if_not_exists=if_not_exists)
                              for index in table.indexes)
        statements.extend(self.comment_statements(table))
        return statements

    def table_options(self, table: SchemaTable) -> str:
        """Text after the closing parenthesis of CREATE TABLE (MySQL's ``COMMENT=``)."""
        return ""

    def comment_statements(self, table: SchemaTable) -> list[str]:
        """COMMENT ON statements for a new table (standard); inline dialects return nothing."""
        if not self.comments:
            return []
        result = []
        if table.comment is not None:
            result.extend(self.set_table_comment(table.name, table.comment))
        for column in table.columns:
            if column.comment is not None:
                result.append(f"COMMENT ON COLUMN {self.q(table.name)}.{self.q(column.name)} IS "
                              f"{self.string(column.comment)}")
        return result

    def create_index(self, table: str, index: SchemaIndex, *, if_not_exists: bool = False) -> str:
        """CREATE [UNIQUE] INDEX."""
        unique = "UNIQUE " if index.unique else ""
        exists = "IF NOT EXISTS " if if_not_exists else ""
        columns = self.cols(index.columns)
        return f"CREATE {unique}INDEX {exists}{self.q(index.name or '')} ON {self.q(table)} {columns}"

    def drop_index(self, table: str, index: SchemaIndex) -> str:
        """DROP INDEX."""
        return f"DROP INDEX {self.q(index.name or '')}"

    # -- whole objects ------------------------------------------------------------------------------------------
    def create_view(self, view: SchemaView) -> list[str]:
        """CREATE VIEW."""
        return [f"CREATE VIEW {self.q(view.name)} AS {view.definition.strip().rstrip(';')}"]

    def drop_view(self, view: SchemaView) -> list[str]:
        """DROP VIEW."""
        return [f"DROP VIEW {self.q(view.name)}"]

    def create_enum(self, enum: SchemaEnum) -> list[str]:
        """CREATE TYPE ... AS ENUM (named-enum dialects only)."""
        values = ", ".join(self.string(v) for v in enum.values)
        return [f"CREATE TYPE {self.q(enum.name)} AS ENUM ({values})"]

    def drop_enum(self, enum: SchemaEnum) -> list[str]:
        """DROP TYPE."""
        return [f"DROP TYPE {self.q(enum.name)}"]

    def alter_enum(self, op: ops.AlterEnum) -> list[str]:
        """Append values with ``ADD VALUE``; otherwise recreate the type and convert its columns."""
        if op.appends_only:
            return [f"ALTER TYPE {self.q(op.new.name)} ADD VALUE {self.string(v)}"
                    for v in op.new.values[len(op.old.values):]]
        old = f"{op.new.name}__dbk_old"
        statements = [f"ALTER TYPE {self.q(op.old.name)} RENAME TO {self.q(old)}", *self.create_enum(op.new)]
        statements.extend(f"ALTER TABLE {self.q(table)} ALTER COLUMN {self.q(column)} TYPE {self.q(op.new.name)} "
                          f"USING {self.q(column)}::text::{self.q(op.new.name)}" for table, column in op.users)
        statements.append(f"DROP TYPE {self.q(old)}")
        return statements

    def create_sequence(self, sequence: SchemaSequence) -> list[str]:
        """CREATE SEQUENCE."""
        return [f"CREATE SEQUENCE {self.q(sequence.name)} START WITH {int(sequence.start)} "
                f"INCREMENT BY {int(sequence.increment)}"]

    def drop_sequence(self, sequence: SchemaSequence) -> list[str]:
        """DROP SEQUENCE."""
        return [f"DROP SEQUENCE {self.q(sequence.name)}"]

    def alter_sequence(self, op: ops.AlterSequence) -> list[str]:
        """ALTER SEQUENCE (start and increment)."""
        return [f"ALTER SEQUENCE {self.q(op.new.name)} START WITH {int(op.new.start)} "
                f"INCREMENT BY {int(op.new.increment)}"]

    # -- table alterations -------------------------------------------------------------------------------------
    def alter(self, table: str) -> str:
        """``ALTER TABLE "t"``."""
        return f"ALTER TABLE {self.q(table)}"

    def drop_table(self, table: SchemaTable) -> list[str]:
        """DROP TABLE."""
        return [f"DROP TABLE {self.q(table.name)}"]

    def rename_table(self, old: str, new: str) -> list[str]:
        """Rename a table."""
        return [f"{self.alter(old)} RENAME TO {self.q(new)}"]

    def add_column(self, table: str, column: SchemaColumn) -> list[str]:
        """ADD COLUMN (plus its comment)."""
        statements = [f"{self.alter(table)} ADD COLUMN {self.column_sql(SchemaTable(table), column)}"]
        if self.comments and column.comment is not None and not self.inline_column_comment(column):
            statements.append(f"COMMENT ON COLUMN {self.q(table)}.{self.q(column.name)} IS "
                              f"{self.string(column.comment)}")
        return statements

    def drop_column(self, table: str, column: SchemaColumn) -> list[str]:
        """DROP COLUMN."""
        return [f"{self.alter(table)} DROP COLUMN {self.q(column.name)}"]

    def rename_column(self, table: str, old: str, new: str) -> list[str]:
        """RENAME COLUMN."""
        return [f"{self.alter(table)} RENAME COLUMN {self.q(old)} TO {self.q(new)}"]

    def alter_column(self, op: ops.AlterColumn) -> list[str]:
        """PostgreSQL-style ``ALTER COLUMN`` clauses, one statement per aspect, in a safe order."""
        head = f"{self.alter(op.table)} ALTER COLUMN {self.q(op.new.name)}"
        changes = set(op.changes)
        had_default = op.old.default is not None or op.old.default_expression is not None
        statements = []
        if ("default" in changes or "type" in changes) and had_default:
            statements.append(f"{head} DROP DEFAULT")
        if "identity" in changes and op.old.autoincrement:
            statements.append(f"{head} DROP IDENTITY IF EXISTS")
        if "type" in changes:
            native = self.render_type(op.new)
            statements.append(f"{head} TYPE {native} USING {self.q(op.new.name)}::{self.using_type(op.new, native)}")
        if "nullable" in changes:
            statements.append(f"{head} {'DROP' if op.new.nullable else 'SET'} NOT NULL")
        default = self.default_sql(op.new)
        if default is not None and ("default" in changes or ("type" in changes and had_default)):
            statements.append(f"{head} SET DEFAULT {default}")
        if "identity" in changes and op.new.autoincrement:
            statements.append(f"{head} ADD {self.identity_sql(op.new)}")
        if "comment" in changes:
            comment = "NULL" if op.new.comment is None else self.string(op.new.comment)
            statements.append(f"COMMENT ON COLUMN {self.q(op.table)}.{self.q(op.new.name)} IS {comment}")
        return statements

    def using_type(self, column: SchemaColumn, native: str) -> str:
        """The cast target in ``USING col::type`` (enum casts go through text)."""
        return native

    def set_primary_key(self, op: ops.SetPrimaryKey, constraint: str | None) -> list[str]:
        """Drop the old primary key (by its constraint name) and add the new one."""
        statements = []
        if op.old:
            statements.append(f"{self.alter(op.table)} DROP CONSTRAINT {self.q(constraint or op.table + '_pkey')}")
        if op.new:
            statements.append(f"{self.alter(op.table)} ADD PRIMARY KEY {self.cols(op.new)}")
        return statements

    def add_foreign_key(self, table: str, fk: SchemaForeignKey) -> list[str]:
        """ADD CONSTRAINT ... FOREIGN KEY."""
        return [f"{self.alter(table)} ADD {self.fk_sql(fk)}"]

    def drop_foreign_key(self, table: str, fk: SchemaForeignKey) -> list[str]:
        """Drop a foreign key by name."""
        return [f"{self.alter(table)} DROP CONSTRAINT {self.q(fk.name or '')}"]

    def add_unique(self, op: ops.AddUnique) -> list[str]:
        """ADD CONSTRAINT ... UNIQUE."""
        return [f"{self.alter(op.table)} ADD CONSTRAINT {self.q(op.unique.name or '')} UNIQUE "
                f"{self.cols(op.unique.columns)}"]

    def drop_unique(self, op: ops.DropUnique) -> list[str]:
        """Drop a unique constraint by name."""
        return [f"{self.alter(op.table)} DROP CONSTRAINT {self.q(op.unique.name or '')}"]

    def add_check(self, op: ops.AddCheck) -> list[str]:
        """ADD CONSTRAINT ... CHECK."""
        return [f"{self.alter(op.table)} ADD CONSTRAINT {self.q(op.check.name or '')} CHECK ({op.check.expression})"]

    def drop_check(self, op: ops.DropCheck) -> list[str]:
        """Drop a check constraint by name."""
        return [f"{self.alter(op.table)} DROP CONSTRAINT {self.q(op.check.name or '')}"]

    def set_table_comment(self, table: str, comment: str | None) -> list[str]:
        """COMMENT ON TABLE."""
        value = "NULL" if comment is None else self.string(comment)
        return [f"COMMENT ON TABLE {self.q(table)} IS {value}"]

    def rebuild_table(self, op: ops.RebuildTable) -> list[str]:
        """Only SQLite rebuilds tables; other dialects never get this operation."""
        raise SchemaError(f"{self.dialect.name} does not rebuild tables")

    # -- dispatch --------------------------------------------------------------------------------------------------
    def render_operation(self, op: ops.Operation) -> list[str]:
        """SQL for one diff operation."""
        match op:
            case ops.CreateTable():
                return self.create_table(op.table, skip_fks=op.deferred_fks)
            case ops.DropTable():
                return self.drop_table(op.table)
            case ops.RenameTable():
                return self.rename_table(op.old, op.new)
            case ops.AddColumn():
                return self.add_column(op.table, op.column)
            case ops.DropColumn():
                return self.drop_column(op.table, op.column)
            case ops.RenameColumn():
                return self.rename_column(op.table, op.old, op.new)
            case ops.AlterColumn():
                return self.alter_column(op)
            case ops.SetPrimaryKey():
                return self.set_primary_key(op, op.old_name)
            case ops.AddForeignKey():
                return self.add_foreign_key(op.table, op.fk)
            case ops.DropForeignKey():
                return self.drop_foreign_key(op.table, op.fk)
            case ops.AddUnique():
                return self.add_unique(op)
            case ops.DropUnique():
                return self.drop_unique(op)
            case ops.AddCheck():
                return self.add_check(op)
            case ops.DropCheck():
                return self.drop_check(op)
            case ops.CreateIndex():
                return [self.create_index(op.table, op.index)]
            case ops.DropIndex():
                return [self.drop_index(op.table, op.index)]
            case ops.SetTableComment():
                return self.set_table_comment(op.table, op.new) if self.comments else []
            case ops.CreateView():
                return self.create_view(op.view)
            case ops.DropView():
                return self.drop_view(op.view)
            case ops.CreateEnum():
                return self.create_enum(op.enum)
            case ops.DropEnum():
                return self.drop_enum(op.enum)
            case ops.AlterEnum():
                return self.alter_enum(op)
            case ops.CreateSequence():
                return self.create_sequence(op.sequence)
            case ops.DropSequence():
                return self.drop_sequence(op.sequence)
            case ops.AlterSequence():
                return self.alter_sequence(op)
            case ops.RebuildTable():
                return self.rebuild_table(op)
        raise SchemaError(f"cannot render {type(op).__name__}")
