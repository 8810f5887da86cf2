"""Dump and restore for DuckDB: one JSON document per line, deterministic, so every dump is chainable.

The stream::

    {"format": "dbkeeper-duckdb", "version": 1}
    {"schema": "CREATE TABLE ..."}            tables (referred tables first), then indexes, then views
    {"table": "t", "columns": ["a", "b"]}     then one JSON array per row, ordered by every column
    [1, "x"]
    {"end": true, "tables": 2, "rows": 400}

Values are JSON where JSON has them; bytes, decimals and dates are tagged
objects (``{"b64": ...}``, ``{"dec": "1.50"}``, ``{"iso": "2026-01-02"}``).
Rows are ordered (``ORDER BY ALL``) and the header holds no clock, so the
bytes of unchanged records repeat from one dump to the next and the core's
line chunks are shared by incremental backups.

Consistency: the dump reads every table inside one transaction, a snapshot
of the database. The restore runs in one transaction too (DuckDB's DDL is
transactional): a failure half-way leaves the target as it was.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from dbkeeper.backup.errors import BackupError, CorruptBackupError, RestoreTargetError

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper_duckdb.session import DuckDBSession

FORMAT = "dbkeeper-duckdb"
VERSION = 1
BATCH = 1000


def dump(dialect: Dialect, connection: DatabaseConnection, sink: IO[bytes],
         options: Mapping[str, Any]) -> dict[str, Any]:
    """Write the stream above into ``sink``; return the manifest's metadata (nothing secret)."""
    if connection.url.is_memory:
        raise BackupError("cannot back up an in-memory DuckDB database; use a file URL (duckdb:////path/file.duckdb)")
    import duckdb

    session = dialect.connect(connection.url)
    raw = session.raw
    tables = rows = 0
    try:
        raw.execute("BEGIN TRANSACTION")
        sink.write(_line({"format": FORMAT, "version": VERSION}))
        ordered = _tables_in_dependency_order(session)
        if options.get("include_schema", True):
            for statement in _schema_statements(session, ordered):
                sink.write(_line({"schema": statement}))
        if options.get("include_data", True):
            for table in ordered:
                result = raw.execute(f"SELECT * FROM {dialect.quote_identifier(table)} ORDER BY ALL")
                columns = [d[0] for d in result.description]
                sink.write(_line({"table": table, "columns": columns}))
                while batch := result.fetchmany(BATCH):
                    sink.write(b"".join(_line([_encode(v) for v in row]) for row in batch))
                    rows += len(batch)
                tables += 1
        sink.write(_line({"end": True, "tables": tables, "rows": rows}))
        raw.execute("COMMIT")
        version = dialect.server_version(session)
    except duckdb.Error as exc:
        raise BackupError(f"duckdb dump of {connection.name} failed: {exc}") from None
    finally:
        session.close()
    content = "full" if options.get("include_schema", True) and options.get("include_data", True) else (
        "schema" if options.get("include_schema", True) else "data")
    return {"tool": "dbkeeper-duckdb", "tool_version": str(VERSION), "server_version": version, "format": FORMAT,
            "content": content, "tables": tables, "rows": rows, "chainable": bool(options.get("chainable"))}


def restore(dialect: Dialect, connection: DatabaseConnection, source: IO[bytes],
            options: Mapping[str, Any]) -> dict[str, Any]:
    """Load a stream from :func:`dump` in one transaction; refuse a non-empty target unless ``replace``."""
    import duckdb

    session = dialect.connect(connection.url)
    raw = session.raw
    try:
        existing = _tables_in_dependency_order(session)
        if existing and not options.get("replace"):
            raise RestoreTargetError(
                f"restore target {connection.name!r} is not empty: it holds {len(existing)} table(s) "
                f"({', '.join(existing[:5])}); pass replace=True (--replace) to replace them, or restore into an "
                "empty database")
        raw.execute("BEGIN TRANSACTION")
        try:
            if existing:
                _drop_everything(dialect, session, existing)
            counts = _load(dialect, session, _records(source))
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
    except duckdb.Error as exc:
        raise BackupError(f"duckdb restore into {connection.name} failed: {exc}") from None
    finally:
        session.close()
    return {"tables": counts[0], "rows": counts[1], "replaced": bool(existing)}


# -- the stream -----------------------------------------------------------------------------------
def _line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, decimal.Decimal):
        return {"dec": str(value)}
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return {"iso": value.isoformat()}
    return {"str": str(value)}


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "b64" in value:
        return base64.b64decode(value["b64"])
    if "dec" in value:
        return decimal.Decimal(value["dec"])
    if "iso" in value:
        return value["iso"]
    if "str" in value:
        return value["str"]
    raise CorruptBackupError(f"duckdb dump: unknown value tag {sorted(value)!r}")


def _records(source: IO[bytes]) -> Iterator[Any]:
    for number, line in enumerate(source, start=1):
        try:
            yield json.loads(line)
        except ValueError:
            raise CorruptBackupError(f"duckdb dump: line {number} is not JSON") from None


def _load(dialect: Dialect, session: DuckDBSession, records: Iterator[Any]) -> tuple[int, int]:
    raw = session.raw
    header = next(records, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CorruptBackupError(f"not a {FORMAT} stream (header {header!r:.80})")
    if header.get("version") != VERSION:
        raise CorruptBackupError(f"{FORMAT} version {header.get('version')!r} is not supported (expected {VERSION})")
    insert: str | None = None
    batch: list[list[Any]] = []
    tables = rows = 0
    for record in records:
        if isinstance(record, list):
            if insert is None:
                raise CorruptBackupError("duckdb dump: a row before any table record")
            batch.append([_decode(v) for v in record])
            if len(batch) >= BATCH:
                raw.executemany(insert, batch)
                rows, batch = rows + len(batch), []
            continue
        if batch and insert is not None:
            raw.executemany(insert, batch)
            rows, batch = rows + len(batch), []
        if "schema" in record:
            raw.execute(record["schema"])
        elif "table" in record:
            columns = record["columns"]
            marks = ", ".join(f"${i + 1}" for i in range(len(columns)))
            names = ", ".join(dialect.quote_identifier(c) for c in columns)
            insert = f"INSERT INTO {dialect.quote_identifier(record['table'])} ({names}) VALUES ({marks})"
            tables += 1
        elif record.get("end"):
            if (record.get("tables"), record.get("rows")) != (tables, rows):
                raise CorruptBackupError(f"duckdb dump: the end record promises {record.get('rows')} rows in "
                                         f"{record.get('tables')} tables, the stream held {rows} in {tables}")
            return tables, rows
        else:
            raise CorruptBackupError(f"duckdb dump: unknown record {sorted(record)!r}")
    raise CorruptBackupError("duckdb dump: the stream ends before its end record (truncated)")


# -- the catalog ---------------------------------------------------------------------------------
def _tables_in_dependency_order(session: DuckDBSession) -> list[str]:
    """Base tables of the current schema, every table after the tables its foreign keys refer to."""
    raw = session.raw
    names = sorted(r[0] for r in raw.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = current_schema() AND NOT internal").fetchall())
    refers: dict[str, set[str]] = {n: set() for n in names}
    for table, referred in raw.execute(
            "SELECT table_name, referenced_table FROM duckdb_constraints() "
            "WHERE schema_name = current_schema() AND constraint_type = 'FOREIGN KEY'").fetchall():
        if table in refers and referred in refers and referred != table:
            refers[table].add(referred)
    ordered: list[str] = []
    while refers:
        ready = sorted(t for t, needs in refers.items() if not needs - set(ordered))
        if not ready:  # a cycle of foreign keys: DuckDB cannot create one, so this is never reached
            ready = sorted(refers)
        for table in ready:
            ordered.append(table)
            del refers[table]
    return ordered


def _schema_statements(session: DuckDBSession, ordered: list[str]) -> list[str]:
    raw = session.raw
    tables = dict(raw.execute(
        "SELECT table_name, sql FROM duckdb_tables() WHERE schema_name = current_schema() AND NOT internal").fetchall())
    statements = [tables[t] for t in ordered]
    statements += [r[0] for r in raw.execute(
        "SELECT sql FROM duckdb_indexes() WHERE schema_name = current_schema() AND sql IS NOT NULL "
        "ORDER BY index_name").fetchall()]
    statements += [r[0] for r in raw.execute(
        "SELECT sql FROM duckdb_views() WHERE schema_name = current_schema() AND NOT internal "
        "ORDER BY view_name").fetchall()]
    return statements


def _drop_everything(dialect: Dialect, session: DuckDBSession, ordered: list[str]) -> None:
    raw = session.raw
    for (view,) in raw.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = current_schema() AND NOT internal").fetchall():
        raw.execute(f"DROP VIEW {dialect.quote_identifier(view)}")
    for table in reversed(ordered):
        raw.execute(f"DROP TABLE {dialect.quote_identifier(table)}")
