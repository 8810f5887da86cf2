"""What the schema toolkit needs from PostgreSQL: its DDL spelling and a batched catalog read.

Rendering follows the base :class:`~dbkeeper.schema.ddl.DDLRenderer`
(standard SQL, ``COMMENT ON``, ``ALTER COLUMN ... TYPE ... USING``) with
PostgreSQL's type names, named enum types and identity columns.

Introspection reads ``pg_catalog`` directly, six queries whatever the number
of tables (relations with comments and view definitions, columns with
defaults, identity and generated expressions, constraints through
``pg_get_constraintdef``, indexes that do not back a constraint, enum types,
free-standing sequences). It skips SQLAlchemy's reflection layer on
purpose: ``MetaData.reflect()`` builds type and column objects we would
throw away, and it does not read enums' sort order, sequences or generated
expressions; reading the catalog once is what keeps a 500-table schema well
under a second (``benchmarks/bench_schema.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.errors import SchemaError
from dbkeeper.schema.expressions import parse_reported_default, strip_outer_parens
from dbkeeper.schema.model import (
    SchemaCheck,
    SchemaColumn,
    SchemaDefinition,
    SchemaEnum,
    SchemaForeignKey,
    SchemaIndex,
    SchemaSequence,
    SchemaTable,
    SchemaUniqueConstraint,
    SchemaView,
)
from dbkeeper.schema.support import BaseSchemaSupport
from dbkeeper.schema.types import ColumnType, parse_type

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session


class PostgresRenderer(DDLRenderer):
    """PostgreSQL's DDL: named enums, identity columns, sequences, ``COMMENT ON``."""

    named_enums = True
    sequences = True
    virtual_generated = False
    type_names: Mapping[str, str] = {
        "INTEGER": "integer", "BIGINT": "bigint", "SMALLINT": "smallint", "BOOLEAN": "boolean", "REAL": "real",
        "DOUBLE": "double precision", "NUMERIC": "numeric", "VARCHAR": "varchar", "CHAR": "char", "TEXT": "text",
        "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp", "TIMESTAMPTZ": "timestamptz", "BLOB": "bytea",
        "JSON": "jsonb", "UUID": "uuid",
    }

    def enum_type(self, column: SchemaColumn) -> str:
        if not column.enum:
            raise SchemaError(f"enum column {column.name!r} has no enum type name (normalise the schema first)")
        return self.q(column.enum)

    def using_type(self, column: SchemaColumn, native: str) -> str:
        return f"text::{native}" if column.type == "ENUM" else native

    def parse_native_type(self, text: str) -> ColumnType:
        return parse_type(text.replace('"', ""), strict=False)


_NAMESPACE = "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema())"
_RELATIONS = f"""
SELECT c.oid::bigint AS oid, c.relname, c.relkind, pg_catalog.obj_description(c.oid, 'pg_class') AS comment,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS viewdef
FROM pg_catalog.pg_class c
WHERE c.relnamespace = {_NAMESPACE} AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
ORDER BY c.relname"""
_COLUMNS = f"""
SELECT a.attrelid::bigint AS rel, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS dflt, a.attidentity, a.attgenerated,
       pg_catalog.col_description(a.attrelid, a.attnum) AS comment, t.typtype, t.typname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = {_NAMESPACE} AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum"""
_CONSTRAINTS = f"""
SELECT con.conrelid::bigint AS rel, con.conname, con.contype, con.conkey::int[] AS conkey,
       con.confkey::int[] AS confkey, con.confrelid::bigint AS frel, con.confdeltype, con.confupdtype,
       pg_catalog.pg_get_constraintdef(con.oid) AS def
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
WHERE c.relnamespace = {_NAMESPACE} AND con.contype IN ('p', 'u', 'f', 'c')
ORDER BY con.conrelid, con.conname"""
_INDEXES = f"""
SELECT i.indrelid::bigint AS rel, ic.relname AS name, i.indisunique, i.indkey::int[] AS indkey,
       i.indexprs IS NOT NULL OR i.indpred IS NOT NULL AS special
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = {_NAMESPACE} AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con
                  WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY ic.relname"""
_ENUMS = f"""
SELECT t.typname, pg_catalog.array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid
WHERE t.typnamespace = {_NAMESPACE}
GROUP BY t.typname ORDER BY t.typname"""
_SEQUENCES = f"""
SELECT s.relname, q.seqstart, q.seqincrement
FROM pg_catalog.pg_sequence q JOIN pg_catalog.pg_class s ON s.oid = q.seqrelid
WHERE s.relnamespace = {_NAMESPACE}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i'))
ORDER BY s.relname"""

_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def introspect(connection: Session, renderer: DDLRenderer) -> SchemaDefinition:
    """Read the current schema (``current_schema()``) of a PostgreSQL database."""
    tables: dict[int, SchemaTable] = {}
    views: list[SchemaView] = []
    for row in connection.execute(_RELATIONS).rows:
        if row["relkind"] == "v":
            views.append(SchemaView(name=row["relname"], definition=(row["viewdef"] or "").strip().rstrip(";")))
        else:
            tables[row["oid"]] = SchemaTable(name=row["relname"], comment=row["comment"])
    attnames: dict[tuple[int, int], str] = {}
    for row in connection.execute(_COLUMNS).rows:
        table = tables.get(row["rel"])
        if table is None:
            continue
        attnames[(row["rel"], row["attnum"])] = row["attname"]
        table.columns.append(_column(row, renderer))
    for row in connection.execute(_CONSTRAINTS).rows:
        table = tables.get(row["rel"])
        if table is None:
            continue
        columns = tuple(attnames.get((row["rel"], n), f"#{n}") for n in row["conkey"] or ())
        kind = row["contype"]
        if kind == "p":
            table.primary_key, table.primary_key_name = columns, row["conname"]
        elif kind == "u":
            table.unique_constraints.append(SchemaUniqueConstraint(columns, row["conname"]))
        elif kind == "c":
            table.checks.append(SchemaCheck(_check_expression(row["def"]), row["conname"]))
        elif kind == "f":
            referred = tables.get(row["frel"])
            table.foreign_keys.append(SchemaForeignKey(
                columns=columns, referred_table=referred.name if referred else f"#{row['frel']}",
                referred_columns=tuple(attnames.get((row["frel"], n), f"#{n}") for n in row["confkey"] or ()),
                name=row["conname"], on_delete=_ACTIONS.get(row["confdeltype"]),
                on_update=_ACTIONS.get(row["confupdtype"])))
    for row in connection.execute(_INDEXES).rows:
        table = tables.get(row["rel"])
        if table is None or row["special"] or 0 in (row["indkey"] or [0]):
            continue
        columns = tuple(attnames.get((row["rel"], n), f"#{n}") for n in row["indkey"])
        table.indexes.append(SchemaIndex(name=row["name"], columns=columns, unique=bool(row["indisunique"])))
    for table in tables.values():
        for column in table.columns:
            column.primary_key = column.name in table.primary_key
    enums = [SchemaEnum(r["typname"], tuple(r["labels"])) for r in connection.execute(_ENUMS).rows]
    enum_values = {e.name: e.values for e in enums}
    for table in tables.values():
        for column in table.columns:
            if column.enum:
                column.enum_values = enum_values.get(column.enum, ())
    sequences = [SchemaSequence(r["relname"], int(r["seqstart"]), int(r["seqincrement"]))
                 for r in connection.execute(_SEQUENCES).rows]
    ordered = sorted(tables.values(), key=lambda t: t.name)
    return SchemaDefinition(name=connection.url.database or "postgres", tables=ordered, views=views, enums=enums,
                            sequences=sequences, dialect="postgres")


def _column(row: Mapping[str, Any], renderer: DDLRenderer) -> SchemaColumn:
    column = SchemaColumn(name=row["attname"], nullable=not row["attnotnull"], comment=row["comment"])
    if row["typtype"] == "e":
        column.type, column.enum = "ENUM", row["typname"]
    else:
        column.type = str(renderer.parse_native_type(row["type"]))
    default = row["dflt"]
    if row["attgenerated"]:
        column.generated, column.generated_stored = strip_outer_parens(default or ""), True
    elif row["attidentity"]:
        column.autoincrement = True
    elif default is not None and default.startswith("nextval("):
        column.autoincrement = True  # serial: an owned sequence behind the default
    else:
        column.default, column.default_expression = parse_reported_default(default)
    return column


def _check_expression(definition: str) -> str:
    text = definition.strip()
    if text.upper().endswith(" NOT VALID"):
        text = text[: -len(" NOT VALID")]
    if text.upper().startswith("CHECK"):
        text = text[5:]
    return strip_outer_parens(text)


class PostgresSchemaSupport(BaseSchemaSupport):
    """The dialect's part of the schema toolkit: :class:`PostgresRenderer` and :func:`introspect`."""

    renderer_class = PostgresRenderer

    def introspect_schema(self, connection: Session) -> SchemaDefinition:
        """The whole schema of ``connection``'s database (:func:`introspect`)."""
        return introspect(connection, self.ddl_renderer())
