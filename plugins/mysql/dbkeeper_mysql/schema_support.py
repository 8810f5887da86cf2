"""What the schema toolkit needs from MySQL/MariaDB: its DDL spelling and a batched catalog read.

Rendering: backtick quoting, ``MODIFY COLUMN`` with the whole column
definition, inline ``COMMENT``, inline ``ENUM(...)`` types, ``AUTO_INCREMENT``,
``DROP FOREIGN KEY`` / ``DROP INDEX``. Unique indexes and unique constraints
are one thing in MySQL, and every foreign key needs an index on its columns
(the server creates one, named after the constraint, when none covers them);
normalisation makes both explicit so a diff settles.

Introspection reads ``information_schema`` (tables, columns, index
statistics, referential constraints, checks and views) in six queries for
any number of tables, including enum values, generated-column expressions
and MariaDB's ``JSON`` (a ``LONGTEXT`` with a ``json_valid`` check).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbkeeper.schema import operations as ops
from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.errors import UnsupportedSchemaFeatureError
from dbkeeper.schema.expressions import parse_reported_default
from dbkeeper.schema.model import (
    SchemaCheck,
    SchemaColumn,
    SchemaDefinition,
    SchemaForeignKey,
    SchemaIndex,
    SchemaTable,
    SchemaUniqueConstraint,
    SchemaView,
)
from dbkeeper.schema.support import BaseSchemaSupport
from dbkeeper.schema.types import ColumnType, parse_type

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session

_INT_WIDTH = re.compile(r"^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)(.*)$", re.IGNORECASE)


class MySQLRenderer(DDLRenderer):
    """MySQL's and MariaDB's DDL."""

    inline_enums = True
    unique_index_is_constraint = True
    restrict_is_no_action = True
    type_names: Mapping[str, str] = {
        "INTEGER": "INT", "BIGINT": "BIGINT", "SMALLINT": "SMALLINT", "BOOLEAN": "TINYINT(1)", "REAL": "FLOAT",
        "DOUBLE": "DOUBLE", "NUMERIC": "DECIMAL", "VARCHAR": "VARCHAR", "CHAR": "CHAR", "TEXT": "TEXT",
        "DATE": "DATE", "TIME": "TIME", "TIMESTAMP": "DATETIME", "TIMESTAMPTZ": "TIMESTAMP", "BLOB": "LONGBLOB",
        "JSON": "JSON", "UUID": "CHAR(36)",
    }
    _native: Mapping[str, str] = {"FLOAT": "REAL", "TIMESTAMP": "TIMESTAMPTZ", "DATETIME": "TIMESTAMP",
                                  "TINYINT(1)": "BOOLEAN", "LONGBLOB": "BLOB", "BLOB": "BLOB"}

    def boolean(self, value: bool) -> str:
        return "1" if value else "0"

    def enum_type(self, column: SchemaColumn) -> str:
        return "ENUM(" + ", ".join(self.string(v) for v in column.enum_values) + ")"

    def parse_native_type(self, text: str) -> ColumnType:
        upper = " ".join(text.strip().upper().split())
        if upper in self._native:
            return parse_type(self._native[upper])
        match = _INT_WIDTH.match(upper)
        if match and not match.group(2).strip():
            upper = match.group(1)
        return parse_type(upper, strict=False)

    def identity_sql(self, column: SchemaColumn) -> str:
        return "AUTO_INCREMENT"

    def inline_column_comment(self, column: SchemaColumn) -> str:
        return f"COMMENT {self.string(column.comment or '')}"

    def comment_statements(self, table: SchemaTable) -> list[str]:
        return []

    def table_options(self, table: SchemaTable) -> str:
        return f" COMMENT={self.string(table.comment)}" if table.comment is not None else ""

    def set_table_comment(self, table: str, comment: str | None) -> list[str]:
        return [f"{self.alter(table)} COMMENT = {self.string(comment or '')}"]

    def add_column(self, table: str, column: SchemaColumn) -> list[str]:
        return [f"{self.alter(table)} ADD COLUMN {self.column_sql(SchemaTable(table), column)}"]

    def alter_column(self, op: ops.AlterColumn) -> list[str]:
        return [f"{self.alter(op.table)} MODIFY COLUMN {self.column_sql(SchemaTable(op.table), op.new)}"]

    def drop_index(self, table: str, index: SchemaIndex) -> str:
        return f"DROP INDEX {self.q(index.name or '')} ON {self.q(table)}"

    def drop_foreign_key(self, table: str, fk: SchemaForeignKey) -> list[str]:
        return [f"{self.alter(table)} DROP FOREIGN KEY {self.q(fk.name or '')}"]

    def drop_unique(self, op: ops.DropUnique) -> list[str]:
        return [f"{self.alter(op.table)} DROP INDEX {self.q(op.unique.name or '')}"]

    def set_primary_key(self, op: ops.SetPrimaryKey, constraint: str | None) -> list[str]:
        statements = []
        if op.old:
            statements.append(f"{self.alter(op.table)} DROP PRIMARY KEY")
        if op.new:
            statements.append(f"{self.alter(op.table)} ADD PRIMARY KEY {self.cols(op.new)}")
        return statements

    def rename_table(self, old: str, new: str) -> list[str]:
        return [f"RENAME TABLE {self.q(old)} TO {self.q(new)}"]

    def normalize_table(self, table: SchemaTable) -> None:
        """Foreign keys get their supporting index (see :func:`add_fk_indexes`); TEXT keys are refused."""
        types = {c.name: c.type for c in table.columns}
        keyed = [("index", i.name, i.columns) for i in table.indexes]
        keyed += [("unique constraint", u.name, u.columns) for u in table.unique_constraints]
        keyed += [("primary key", None, table.primary_key)]
        for kind, name, columns in keyed:
            for column in columns:
                if types.get(column) in _UNINDEXABLE:
                    raise UnsupportedSchemaFeatureError(
                        f"MySQL cannot use the {types[column]} column {table.name}.{column} in {kind} "
                        f"{name or ''} without a prefix length; make it VARCHAR(n)".replace("  ", " "))
        add_fk_indexes(table)


def add_fk_indexes(table: SchemaTable) -> None:
    """Give every foreign key an explicit index (named after it) unless an index already leads with its columns.

    MySQL creates that index itself when none exists; making it part of the
    definition means the introspected index matches, and dropping the key
    drops its index too.
    """
    covering = [i.columns for i in table.indexes] + [u.columns for u in table.unique_constraints]
    if table.primary_key:
        covering.append(table.primary_key)
    for fk in table.foreign_keys:
        n = len(fk.columns)
        if not any(cols[:n] == fk.columns for cols in covering):
            table.indexes.append(SchemaIndex(name=fk.name, columns=fk.columns))
            covering.append(fk.columns)


_TABLES = ("SELECT TABLE_NAME AS name, TABLE_TYPE AS kind, TABLE_COMMENT AS comment FROM information_schema.TABLES "
           "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME")
_COLUMNS = ("SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name, COLUMN_DEFAULT AS dflt, IS_NULLABLE AS nullable, "
            "COLUMN_TYPE AS type, EXTRA AS extra, COLUMN_COMMENT AS comment, GENERATION_EXPRESSION AS gen "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION")
_STATISTICS = ("SELECT TABLE_NAME AS tbl, INDEX_NAME AS name, NON_UNIQUE AS non_unique, SEQ_IN_INDEX AS seq, "
               "COLUMN_NAME AS col, SUB_PART AS sub_part FROM information_schema.STATISTICS "
               "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX")
_FKS = ("SELECT k.TABLE_NAME AS tbl, k.CONSTRAINT_NAME AS name, k.COLUMN_NAME AS col, "
        "k.REFERENCED_TABLE_NAME AS referred, k.REFERENCED_COLUMN_NAME AS ref, r.UPDATE_RULE AS on_update, "
        "r.DELETE_RULE AS on_delete FROM information_schema.KEY_COLUMN_USAGE k "
        "JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
        "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME "
        "WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION")
_CHECKS_MARIADB = ("SELECT TABLE_NAME AS tbl, CONSTRAINT_NAME AS name, CHECK_CLAUSE AS clause "
                   "FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() "
                   "ORDER BY TABLE_NAME, CONSTRAINT_NAME")
_CHECKS_MYSQL = ("SELECT t.TABLE_NAME AS tbl, c.CONSTRAINT_NAME AS name, c.CHECK_CLAUSE AS clause "
                 "FROM information_schema.CHECK_CONSTRAINTS c JOIN information_schema.TABLE_CONSTRAINTS t "
                 "ON t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA AND t.CONSTRAINT_NAME = c.CONSTRAINT_NAME "
                 "WHERE c.CONSTRAINT_SCHEMA = DATABASE() AND t.CONSTRAINT_TYPE = 'CHECK' ORDER BY 1, 2")
_VIEWS = ("SELECT TABLE_NAME AS name, VIEW_DEFINITION AS definition FROM information_schema.VIEWS "
          "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME")
_MARIADB_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "Z": "\x1a", "b": "\b"}
_UNINDEXABLE = ("TEXT", "BLOB", "JSON")
_ENUM_VALUE = re.compile(r"'((?:[^'\\]|''|\\.)*)'")


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else value


def introspect(connection: Session, renderer: DDLRenderer) -> SchemaDefinition:
    """Read the current database of a MySQL/MariaDB connection."""
    version = str(connection.execute("SELECT VERSION() AS v").scalar() or "")
    mariadb = "mariadb" in version.lower()
    tables: dict[str, SchemaTable] = {}
    for row in connection.execute(_TABLES).rows:
        if _text(row["kind"]) in ("BASE TABLE", "SYSTEM VERSIONED"):
            comment = _text(row["comment"]) or None
            tables[_text(row["name"])] = SchemaTable(name=_text(row["name"]), comment=comment)
    for row in connection.execute(_COLUMNS).rows:
        table = tables.get(_text(row["tbl"]))
        if table is not None:
            table.columns.append(_column({k: _text(v) for k, v in row.items()}, renderer, mariadb))
    _read_indexes(connection, tables)
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in connection.execute(_FKS).rows:
        groups.setdefault((_text(row["tbl"]), _text(row["name"])), []).append(row)
    for (tbl, name), rows in groups.items():
        if tbl not in tables:
            continue
        first = rows[0]
        tables[tbl].foreign_keys.append(SchemaForeignKey(
            columns=tuple(_text(r["col"]) for r in rows), referred_table=_text(first["referred"]),
            referred_columns=tuple(_text(r["ref"]) for r in rows), name=name,
            on_delete=_rule(first["on_delete"]), on_update=_rule(first["on_update"])))
    _read_checks(connection, tables, mariadb)
    views = [SchemaView(name=_text(r["name"]), definition=_text(r["definition"]) or "")
             for r in connection.execute(_VIEWS).rows]
    for table in tables.values():
        for column in table.columns:
            column.primary_key = column.name in table.primary_key
    database = str(connection.execute("SELECT DATABASE() AS d").scalar() or connection.url.database or "")
    return SchemaDefinition(name=database, tables=sorted(tables.values(), key=lambda t: t.name), views=views,
                            dialect="mysql")


def _rule(value: Any) -> str | None:
    text = str(_text(value) or "").upper()
    return None if text in ("", "NO ACTION", "RESTRICT") else text


def _column(row: Mapping[str, Any], renderer: DDLRenderer, mariadb: bool) -> SchemaColumn:
    native = str(row["type"])
    extra = str(row["extra"] or "").upper()
    column = SchemaColumn(name=row["name"], nullable=row["nullable"] == "YES", comment=row["comment"] or None)
    if native.lower().startswith("enum("):
        values = tuple(v.replace("''", "'").replace("\\\\", "\\") for v in _ENUM_VALUE.findall(native[5:-1]))
        column.type, column.enum_values = "ENUM", values
    else:
        column.type = str(renderer.parse_native_type(native))
    if "GENERATED" in extra and "DEFAULT_GENERATED" not in extra:
        column.generated = row["gen"] or ""
        column.generated_stored = "STORED" in extra or "PERSISTENT" in extra
        return column
    if "AUTO_INCREMENT" in extra:
        column.autoincrement = True
    default = row["dflt"]
    if default is None:
        return column
    if mariadb and len(default) >= 2 and default[0] == default[-1] == "'":
        column.default = _MARIADB_ESCAPE.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(1)), default[1:-1])
        column.default = column.default.replace("''", "'")
    elif mariadb:
        column.default, column.default_expression = parse_reported_default(default)
    elif "DEFAULT_GENERATED" in extra:
        column.default_expression = default
    else:
        column.default = default
    return column


def _read_indexes(connection: Session, tables: dict[str, SchemaTable]) -> None:
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in connection.execute(_STATISTICS).rows:
        groups.setdefault((_text(row["tbl"]), _text(row["name"])), []).append(row)
    for (tbl, name), rows in groups.items():
        table = tables.get(tbl)
        if table is None or any(r["sub_part"] is not None or r["col"] is None for r in rows):
            continue
        columns = tuple(_text(r["col"]) for r in rows)
        if name == "PRIMARY":
            table.primary_key = columns
        elif not int(rows[0]["non_unique"]):
            table.unique_constraints.append(SchemaUniqueConstraint(columns, name))
        else:
            table.indexes.append(SchemaIndex(name=name, columns=columns))


def _read_checks(connection: Session, tables: dict[str, SchemaTable], mariadb: bool) -> None:
    rows = connection.execute(_CHECKS_MARIADB if mariadb else _CHECKS_MYSQL).rows
    for row in rows:
        table = tables.get(_text(row["tbl"]))
        if table is None:
            continue
        name, clause = _text(row["name"]), _text(row["clause"]) or ""
        json_column = re.fullmatch(r"\s*json_valid\(\s*`?([^`]+?)`?\s*\)\s*", clause, re.IGNORECASE)
        if json_column and name == json_column.group(1):
            column = table.column(name)
            if column is not None and column.type == "TEXT":
                column.type = "JSON"
                continue
        table.checks.append(SchemaCheck(clause, name))


class MySQLSchemaSupport(BaseSchemaSupport):
    """The dialect's part of the schema toolkit: :class:`MySQLRenderer` and :func:`introspect`."""

    renderer_class = MySQLRenderer

    def introspect_schema(self, connection: Session) -> SchemaDefinition:
        """The whole schema of ``connection``'s database (:func:`introspect`)."""
        return introspect(connection, self.ddl_renderer())
