"""What the schema toolkit needs from SQLite: its DDL spelling, the table rebuild, and introspection.

Rendering: SQLite keeps declared types verbatim, so portable type names are
written as they are; an ``AUTOINCREMENT`` column is the inline ``INTEGER
PRIMARY KEY``; enums are TEXT with a CHECK; comments cannot be stored.
Changes ALTER TABLE cannot make are done by the documented rebuild (new
table, copy, drop, rename, recreate indexes), wrapped in ``PRAGMA
foreign_keys`` OFF/ON, which the migration engine runs outside the
migration's transaction so it takes effect.

Introspection is one batched pass: ``sqlite_master`` plus the table-valued
pragma functions (``pragma_table_xinfo``, ``pragma_foreign_key_list``,
``pragma_index_list``, ``pragma_index_info``) joined against it, four
queries for any number of tables; checks, generated-column expressions and
``AUTOINCREMENT`` are read from the stored CREATE statement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbkeeper.schema import operations as ops
from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.expressions import expression_key
from dbkeeper.schema.model import SchemaColumn, SchemaDefinition, SchemaTable
from dbkeeper.schema.support import BaseSchemaSupport

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session

#: Prefix of the temporary table a rebuild copies into.
REBUILD_PREFIX = "_dbk_new_"


class SQLiteRenderer(DDLRenderer):
    """SQLite's DDL: portable type names, inline AUTOINCREMENT, rebuilds instead of most ALTERs."""

    comments = False
    alter_table = False
    integer_pk_is_identity = True

    def boolean(self, value: bool) -> str:
        return "1" if value else "0"

    def default_sql(self, column: SchemaColumn) -> str | None:
        """SQLite accepts only literals, CURRENT_* and parenthesised expressions as defaults."""
        if column.default_expression is None:
            return super().default_sql(column)
        key = expression_key(column.default_expression)
        if key in ("current_timestamp", "current_date", "current_time"):
            return key.upper()
        return f"({column.default_expression})"

    def column_sql(self, table: SchemaTable, column: SchemaColumn) -> str:
        if column.autoincrement:
            return f"{self.q(column.name)} INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"
        return super().column_sql(table, column)

    def identity_sql(self, column: SchemaColumn) -> str:
        return ""

    def primary_key_sql(self, table: SchemaTable) -> str | None:
        if any(c.autoincrement for c in table.columns):
            return None
        return super().primary_key_sql(table)

    def rebuild_table(self, op: ops.RebuildTable) -> list[str]:
        """The twelve-step rebuild (https://www.sqlite.org/lang_altertable.html#otheralter), steps 4-8 and 10."""
        new = op.new
        temp = REBUILD_PREFIX + new.name
        statements = self.create_table(new, name=temp, with_indexes=False)
        generated = {c.name for c in new.columns if c.generated is not None}
        pairs = [(n, o) for n, o in op.column_map if n not in generated]
        if pairs:
            targets = ", ".join(self.q(n) for n, _ in pairs)
            sources = ", ".join(self.q(o) for _, o in pairs)
            statements.append(f"INSERT INTO {self.q(temp)} ({targets}) SELECT {sources} FROM {self.q(new.name)}")
        statements.append(f"DROP TABLE {self.q(new.name)}")
        statements.append(f"ALTER TABLE {self.q(temp)} RENAME TO {self.q(new.name)}")
        statements.extend(self.create_index(new.name, index) for index in new.indexes)
        return statements


_MASTER = ("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'view') "
           "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
_COLUMNS = ("SELECT m.name AS tbl, p.cid, p.name, p.type, p.\"notnull\" AS not_null, p.dflt_value, p.pk, p.hidden "
            "FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p WHERE m.type = 'table' "
            "AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, p.cid")
_FKS = ("SELECT m.name AS tbl, f.id, f.seq, f.\"table\" AS referred, f.\"from\" AS col, f.\"to\" AS ref, "
        "f.on_update, f.on_delete FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f "
        "WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq")
_INDEXES = ("SELECT m.name AS tbl, il.name AS idx, il.\"unique\" AS is_unique, il.origin, il.partial, ii.seqno, "
            "ii.name AS col FROM sqlite_master m JOIN pragma_index_list(m.name) il "
            "JOIN pragma_index_info(il.name) ii WHERE m.type = 'table' ORDER BY m.name, il.name, ii.seqno")


def introspect(connection: Session, renderer: DDLRenderer) -> SchemaDefinition:
    """Read the whole schema of a SQLite database into a :class:`SchemaDefinition`."""
    from dbkeeper.schema.expressions import parse_reported_default
    from dbkeeper.schema.model import (
        SchemaCheck,
        SchemaForeignKey,
        SchemaIndex,
        SchemaUniqueConstraint,
        SchemaView,
    )
    from dbkeeper.schema.sqltext import view_definition

    master = connection.execute(_MASTER).rows
    sql_of = {r["name"]: r["sql"] or "" for r in master if r["type"] == "table"}
    tables: dict[str, SchemaTable] = {name: SchemaTable(name=name) for name in sql_of}
    pk_order: dict[str, list[tuple[int, str]]] = {}
    generated_columns: dict[str, set[str]] = {}
    for row in connection.execute(_COLUMNS).rows:
        table = tables.get(row["tbl"])
        if table is None:
            continue
        literal, expression = parse_reported_default(row["dflt_value"])
        ctype = renderer.parse_native_type(row["type"] or "")
        column = SchemaColumn(name=row["name"], type=str(ctype), nullable=not row["not_null"] and not row["pk"],
                              default=literal, default_expression=expression)
        if row["hidden"] in (2, 3):
            column.generated_stored = row["hidden"] == 3
            generated_columns.setdefault(table.name, set()).add(column.name)
        table.columns.append(column)
        if row["pk"]:
            pk_order.setdefault(table.name, []).append((row["pk"], row["name"]))
    for name, table in tables.items():
        table.primary_key = tuple(col for _, col in sorted(pk_order.get(name, [])))
        for column in table.columns:
            column.primary_key = column.name in table.primary_key
        _read_sql_details(table, sql_of[name], SchemaCheck, generated_columns.get(name, set()))
    fk_groups: dict[tuple[str, int], list[Any]] = {}
    for row in connection.execute(_FKS).rows:
        fk_groups.setdefault((row["tbl"], row["id"]), []).append(row)
    for (tbl, _), rows in sorted(fk_groups.items()):
        first = rows[0]
        referred = tables.get(first["referred"])
        refs = [r["ref"] for r in rows]
        if any(r is None for r in refs) and referred is not None:
            refs = list(referred.primary_key)
        tables[tbl].foreign_keys.append(SchemaForeignKey(
            columns=tuple(r["col"] for r in rows), referred_table=first["referred"], referred_columns=tuple(refs),
            name=None, on_delete=_action(first["on_delete"]), on_update=_action(first["on_update"])))
    index_groups: dict[tuple[str, str], list[Any]] = {}
    for row in connection.execute(_INDEXES).rows:
        index_groups.setdefault((row["tbl"], row["idx"]), []).append(row)
    for (tbl, idx), rows in sorted(index_groups.items()):
        first = rows[0]
        columns = tuple(r["col"] for r in rows if r["col"] is not None)
        if first["origin"] == "pk" or first["partial"] or len(columns) != len(rows):
            continue
        if first["origin"] == "u":
            tables[tbl].unique_constraints.append(SchemaUniqueConstraint(columns, name=None))
        else:
            tables[tbl].indexes.append(SchemaIndex(name=idx, columns=columns, unique=bool(first["is_unique"])))
    views = [SchemaView(name=r["name"], definition=view_definition(r["sql"] or ""))
             for r in master if r["type"] == "view"]
    name = connection.url.database or "main"
    return SchemaDefinition(name=name, tables=list(tables.values()), views=views, dialect="sqlite")


def _action(value: str | None) -> str | None:
    if value is None or value.upper() in ("NO ACTION", ""):
        return None
    return value.upper()


def _read_sql_details(table: SchemaTable, sql: str, check_cls: Any, generated_columns: set[str]) -> None:
    """Checks, generated expressions and AUTOINCREMENT, from the stored CREATE TABLE text."""
    from dbkeeper.schema.sqltext import (
        constraint_name_before,
        contains_keyword,
        find_keyword_paren,
        leading_identifier,
        split_top_level,
        table_body,
    )

    body = table_body(sql)
    for item in split_top_level(body):
        head, rest = leading_identifier(item)
        column = table.column(head) if not re.match(r"(?i)(CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN)\b", item) else None
        for position, expression in find_keyword_paren(item, "CHECK"):
            table.checks.append(check_cls(expression=expression, name=constraint_name_before(item, position)))
        if column is not None:
            generated = find_keyword_paren(rest, r"(?:GENERATED\s+ALWAYS\s+)?AS")
            if generated and column.name in generated_columns:
                column.generated = generated[0][1]
            if contains_keyword(rest, "AUTOINCREMENT"):
                column.autoincrement = True


class SQLiteSchemaSupport(BaseSchemaSupport):
    """The dialect's part of the schema toolkit: :class:`SQLiteRenderer` and :func:`introspect`."""

    renderer_class = SQLiteRenderer

    def introspect_schema(self, connection: Session) -> SchemaDefinition:
        """The whole schema of ``connection``'s database (:func:`introspect`)."""
        return introspect(connection, self.ddl_renderer())

    def render_ddl(self, obj: Any, options: Mapping[str, Any]) -> list[str]:
        """As the base, but a script containing a rebuild runs with foreign keys off (step 1 and 12)."""
        statements = super().render_ddl(obj, options)
        items = obj if isinstance(obj, list | tuple) else [obj]
        if any(isinstance(item, ops.RebuildTable) for item in items):
            return ["PRAGMA foreign_keys = OFF", *statements, "PRAGMA foreign_keys = ON"]
        return statements
