"""The chainable MySQL/MariaDB dump: SQL with rows in primary-key order, one row per line.

``mariadb-dump`` packs rows into extended INSERTs cut at a byte budget, so
one changed row shifts every later statement boundary and most chunks look
new. This dump is still plain SQL for the ``mariadb``/``mysql`` client (so
:func:`dbkeeper_mysql.dump.restore` loads it unchanged), but:

* rows come in primary-key order (``ORDER BY`` the key; tables without one
  in the storage engine's order: the documented fallback), one per line,
  so the content-defined chunker cuts on row boundaries;
* the server renders each row as SQL (``QUOTE()`` for text and numbers,
  ``0x...`` hex for binary, bit and spatial columns, newlines escaped), in
  one session that reads every table inside ``START TRANSACTION WITH
  CONSISTENT SNAPSHOT`` (a consistent backup while writers go on);
* a new multi-row ``INSERT`` starts at rows whose key hashes to 0 modulo
  :data:`STATEMENT_ROWS` (about every 2,048 rows): statement boundaries
  depend on the rows themselves, not on byte counts, so they do not move.
  Tables without a primary key get one ``INSERT`` per row, in storage order.

The schema comes from ``mariadb-dump --no-data`` (tables, views, routines,
events) before the rows and its triggers after them, so loading rows fires
no trigger. The schema is read just before the data snapshot: DDL running
during a backup can make the two disagree (MySQL cannot share a snapshot
with the dump tool). Rows are read by one session (no parallel export:
MySQL has no snapshot export to share between sessions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

from dbkeeper.backup.tools import base_env, stream_out
from dbkeeper.connection import DatabaseConnection

FORMAT = "sql"
STATEMENT_ROWS = 2048
_HEX_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit", "geometry", "point",
              "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}
_NUMBER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float",
                 "double", "real", "year"}
_PLAIN_TEXT_TYPES = {"date", "datetime", "timestamp", "time"}
_PRELUDE = (b"/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET FOREIGN_KEY_CHECKS=0 */;\n"
            b"/*!40014 SET UNIQUE_CHECKS=0 */;\n/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
            b"/*!40103 SET TIME_ZONE='+00:00' */;\n")
_POSTLUDE = b"/*!40014 SET FOREIGN_KEY_CHECKS=1 */;\n/*!40014 SET UNIQUE_CHECKS=1 */;\n"


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tables(conn: DatabaseConnection, database: str) -> list[dict[str, Any]]:
    names = [r["t"] for r in conn.execute(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s "
        "AND table_type = 'BASE TABLE' ORDER BY table_name", (database,)).rows]
    tables = []
    for name in names:
        columns = conn.execute(
            "SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s AND extra NOT LIKE '%%GENERATED%%' ORDER BY ordinal_position", (database, name)).rows
        key = [r["c"] for r in conn.execute(
            "SELECT column_name AS c FROM information_schema.statistics WHERE table_schema = %s AND table_name = %s "
            "AND index_name = 'PRIMARY' ORDER BY seq_in_index", (database, name)).rows]
        tables.append({"name": name, "columns": [(r["c"], str(r["t"]).lower()) for r in columns], "key": key})
    return tables


def _value(column: str, data_type: str) -> str:
    """The server-side SQL literal of a column: as cheap as the type allows (this runs once per value)."""
    col = _q(column)
    if data_type in _HEX_TYPES:
        return f"IF({col} IS NULL, 'NULL', IF(LENGTH({col}) = 0, '''''', CONCAT('0x', HEX({col}))))"
    if data_type in _NUMBER_TYPES:
        return f"IFNULL({col}, 'NULL')"
    if data_type in _PLAIN_TEXT_TYPES:  # cannot hold a quote, backslash or newline
        return f"QUOTE({col})"
    return f"REPLACE(REPLACE(QUOTE({col}), '\\n', '\\\\n'), '\\r', '\\\\r')"


def _select(table: dict[str, Any]) -> list[str]:
    """Statements printing the table's rows as lines of multi-row INSERTs, in key order."""
    name = _q(table["name"])
    columns: Sequence[tuple[str, str]] = table["columns"]
    header = f"INSERT INTO {name} ({', '.join(_q(c) for c, _ in columns)}) VALUES "
    row = "CONCAT('(', " + ", ',', ".join(_value(c, t) for c, t in columns) + ", ')')"
    if not table["key"]:  # fallback: storage order, one INSERT per row
        return [f"SELECT CONCAT({_lit(header)}, {row}, ';') FROM {name}"]
    keys = ", ".join(_q(k) for k in table["key"])
    first = f"({keys}) = (SELECT {keys} FROM {name} ORDER BY {keys} LIMIT 1)"
    boundary = f"CRC32(CONCAT_WS(0x1f, {keys})) % {STATEMENT_ROWS} = 0"
    line = f"IF({first}, {_lit(header)}, IF({boundary}, {_lit(';' + header)}, ','))"
    return [f"SELECT CONCAT({line}, {row}) FROM {name} ORDER BY {keys}",
            f"SELECT ';' FROM {name} LIMIT 1"]


def dump_ordered(connection: DatabaseConnection, sink: IO[bytes], *, dump_tool: str, client: str,
                 defaults_file: str, database: str, secrets: list[str | None]) -> dict[str, Any]:
    """Write the chainable SQL dump of ``database`` into ``sink``; return what it holds."""
    with connection:
        tables = _tables(connection, database)
    common = [f"--defaults-extra-file={defaults_file}", "--default-character-set=utf8mb4"]
    schema = [dump_tool, *common, "--single-transaction", "--no-data", "--skip-dump-date", "--no-tablespaces"]
    sink.write(b"-- dbkeeper ordered MySQL dump 1\n")
    stream_out([*schema, "--routines", "--events", "--skip-triggers", "--", database], base_env(), sink,
               secrets=secrets)
    sink.write(_PRELUDE)
    statements = ["SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SET time_zone = '+00:00'",
                  "START TRANSACTION WITH CONSISTENT SNAPSHOT"]
    for table in tables:
        statements += _select(table)
    statements.append("COMMIT")
    if tables:
        stream_out([client, *common, "--batch", "--raw", "--skip-column-names", f"--database={database}",
                    "-e", ";\n".join(statements) + ";"], base_env(), sink, secrets=secrets)
    sink.write(_POSTLUDE)
    stream_out([*schema, "--no-create-info", "--triggers", "--skip-routines", "--skip-events", "--", database],
               base_env(), sink, secrets=secrets)
    return {"format": FORMAT, "chainable": True, "ordered": True, "tables": len(tables),
            "unordered_tables": [t["name"] for t in tables if not t["key"]]}
