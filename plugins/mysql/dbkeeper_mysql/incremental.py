"""The chainable MySQL/MariaDB dump: SQL with rows in primary-key order, one row per line.

``mariadb-dump`` packs rows into extended INSERTs cut at a byte budget, so
one changed row shifts every later statement boundary and most chunks look
new. This dump is still plain SQL for the ``mariadb``/``mysql`` client (so
:func:`dbkeeper_mysql.dump.restore` loads it unchanged), but:

* rows come in primary-key order (``ORDER BY`` the key; tables without one
  in the storage engine's order: the documented fallback), one per line,
  so the content-defined chunker cuts on row boundaries;
* the server renders each row as SQL (``QUOTE()`` for text and numbers,
  ``0x...`` hex for binary, bit and spatial columns, newlines escaped), and
  the ``mariadb``/``mysql`` client prints it, one row per line, inside
  ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` (a consistent backup while
  writers go on);
* a new multi-row ``INSERT`` starts at rows whose key hashes to 0 modulo
  :data:`STATEMENT_ROWS` (about every 2,048 rows): statement boundaries
  depend on the rows themselves, not on byte counts, so they do not move.
  Tables without a primary key get one ``INSERT`` per row, in storage order.

The schema comes from ``mariadb-dump --no-data`` (tables, views, routines,
events) before the rows and its triggers after them, so loading rows fires
no trigger. The schema is read just before the data snapshot: DDL running
during a backup can make the two disagree (MySQL cannot share a snapshot
with the dump tool).

Parallel export (``workers`` > 1, when the caller asks for it: the brief
global read lock is not something a backup should take unasked, and on two
CPUs shared with the server it gained nothing): the rows are cut into parts, one per table and, for a table with
more than :data:`RANGE_ROWS` estimated rows and a single integer primary
key, ``2 x workers`` key ranges of equal width between its smallest and
largest key (the first and last ranges are open-ended, so rows written
after the bounds were read are still exported once). Parts run in worker
sessions that share one snapshot, synchronised the way ``mydumper`` does
it (:mod:`dbkeeper_mysql._sessions`: ``FLUSH TABLES WITH READ LOCK``, a
``START TRANSACTION WITH CONSISTENT SNAPSHOT`` per session, ``UNLOCK
TABLES``; writes wait for about a millisecond), and
:func:`~dbkeeper.backup.export.write_ordered` writes their output in order
with bounded memory. The stream is byte-identical to the one-session
stream whatever the number of workers, so chunks are shared across backups
made with different settings: a range part runs the table's own ``SELECT``
restricted to its range, whose first-row test still compares with the
table's smallest key (the same in every session of the snapshot), and only
the last range prints the table's closing ``;``. Without the ``RELOAD``
privilege, when the lock cannot be had within
:data:`dbkeeper_mysql._sessions.LOCK_WAIT_TIMEOUT` seconds (it waits for
running writes), or when the sessions cannot be opened, the rows are read
by one session instead and the result says so (``parallel: false`` and
``parallel_fallback``: the reason). Tables outside InnoDB (MyISAM, Aria)
have no snapshot in either mode, as with ``mariadb-dump
--single-transaction``. In both modes the client runs with ``--quick``, so
it prints rows as they arrive instead of holding a whole table in memory.
"""

from __future__ import annotations

import itertools
import queue
from collections.abc import Callable, Sequence
from typing import IO, Any

from dbkeeper.backup.export import Emit, Part, write_ordered
from dbkeeper.backup.tools import base_env, stream_out
from dbkeeper.connection import DatabaseConnection
from dbkeeper_mysql._sessions import SESSION_TIMEOUT, SnapshotUnavailable, open_sessions, synchronise

FORMAT = "sql"
STATEMENT_ROWS = 2048
#: Tables with more (estimated) rows than this are split into key ranges when several workers run.
RANGE_ROWS = 100_000
_INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
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
    found = [(r["t"], r["n"]) for r in conn.execute(
        "SELECT table_name AS t, table_rows AS n FROM information_schema.tables WHERE table_schema = %s "
        "AND table_type = 'BASE TABLE' ORDER BY table_name", (database,)).rows]
    tables = []
    for name, estimate in found:
        columns = conn.execute(
            "SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s AND extra NOT LIKE '%%GENERATED%%' ORDER BY ordinal_position", (database, name)).rows
        key = [r["c"] for r in conn.execute(
            "SELECT column_name AS c FROM information_schema.statistics WHERE table_schema = %s AND table_name = %s "
            "AND index_name = 'PRIMARY' ORDER BY seq_in_index", (database, name)).rows]
        tables.append({"name": name, "columns": [(r["c"], str(r["t"]).lower()) for r in columns], "key": key,
                       "estimated_rows": int(estimate or 0)})
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


def _select(table: dict[str, Any], where: str = "", *, last: bool = True) -> list[str]:
    """Statements printing the table's rows as lines of multi-row INSERTs, in key order.

    ``where`` restricts the rows to one key range (parallel export); the
    first-row test still compares with the whole table's first key, so a
    range prints exactly the lines it prints as part of the whole table, and
    only the ``last`` range prints the closing ``;``.
    """
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
    statements = [f"SELECT CONCAT({line}, {row}) FROM {name}{where} ORDER BY {keys}"]
    if last:
        statements.append(f"SELECT ';' FROM {name} LIMIT 1")
    return statements


def _ranges(conn: DatabaseConnection, table: dict[str, Any], parts: int) -> list[str]:
    """``WHERE`` clauses splitting a large single-integer-key table into ``parts`` ascending key ranges.

    Bounds split ``min..max`` of the key evenly (two index look-ups; an
    ``OFFSET`` walk would read the whole clustered index). Skewed keys make
    uneven parts, which costs speed, never correctness: the ranges are
    disjoint and the first and last are open-ended, so every row of the
    snapshot falls in exactly one, however the table changed since.
    """
    types = dict(table["columns"])
    if parts < 2 or len(table["key"]) != 1 or types.get(table["key"][0]) not in _INTEGER_TYPES \
            or table["estimated_rows"] < RANGE_ROWS:
        return [""]
    key = _q(table["key"][0])
    row = conn.execute(f"SELECT MIN({key}) AS lo, MAX({key}) AS hi FROM {_q(table['name'])}").rows[0]
    if row["lo"] is None or int(row["hi"]) - int(row["lo"]) < parts:
        return [""]
    low, high = int(row["lo"]), int(row["hi"])
    step = (high - low + 1) // parts
    bounds = [low + step * i for i in range(1, parts)]
    clauses = [f" WHERE {key} < {bounds[0]}"]
    clauses += [f" WHERE {key} >= {a} AND {key} < {b}" for a, b in itertools.pairwise(bounds)]
    clauses.append(f" WHERE {key} >= {bounds[-1]}")
    return clauses


def _part(pool: queue.Queue[Any], statements: list[str]) -> Callable[[Emit], None]:
    """A part that runs ``statements`` in whichever snapshot session is free."""

    def produce(emit: Emit) -> None:
        session = pool.get()
        try:
            session.run(statements, emit)
        finally:  # a failed session fails the next part at once instead of leaving it waiting for a session
            pool.put(session)

    return produce


def _parallel(connection: DatabaseConnection, sink: IO[bytes], plan: list[list[list[str]]], *, workers: int,
              argv: list[str], secrets: list[str | None]) -> dict[str, Any]:
    """Export the planned parts in ``workers`` sessions sharing one snapshot; what it did, for the result.

    Raises :class:`~dbkeeper_mysql._sessions.SnapshotUnavailable` (before
    writing anything) when the sessions cannot share a snapshot.
    """
    setup = ["SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SET time_zone = '+00:00'",
             f"SET SESSION net_write_timeout = {SESSION_TIMEOUT}, wait_timeout = {SESSION_TIMEOUT}"]
    sessions = open_sessions(argv, base_env(), secrets, workers, setup)
    ok = False
    try:
        locked = synchronise(connection, sessions, secrets)
        pool: queue.Queue[Any] = queue.Queue()
        for session in sessions:
            pool.put(session)
        parts = [Part(_part(pool, statements)) for table_parts in plan for statements in table_parts]
        write_ordered(sink, parts, workers)
        ok = True
    finally:
        for session in sessions:
            if ok:
                session.close()
            else:
                session.kill()
    return {"parallel": True, "workers": workers, "parts": len(parts), "lock_seconds": round(locked, 4)}


def dump_ordered(connection: DatabaseConnection, sink: IO[bytes], *, dump_tool: str, client: str,
                 defaults_file: str, database: str, secrets: list[str | None], workers: int = 1) -> dict[str, Any]:
    """Write the chainable SQL dump of ``database`` into ``sink``; return what it holds.

    With ``workers`` > 1 the rows are read by that many sessions sharing one
    snapshot, falling back to one session (and saying why in the result)
    when the snapshot cannot be shared; the bytes are the same either way.
    """
    with connection:
        tables = _tables(connection, database)
        plan = []  # per table, the statements of each of its parts
        for table in tables:
            clauses = _ranges(connection, table, workers * 2 if workers > 1 else 1)
            plan.append([_select(table, where, last=i == len(clauses) - 1) for i, where in enumerate(clauses)])
    common = [f"--defaults-extra-file={defaults_file}", "--default-character-set=utf8mb4"]
    schema = [dump_tool, *common, "--single-transaction", "--no-data", "--skip-dump-date", "--no-tablespaces"]
    # --quick: the client prints rows as they arrive instead of holding the whole result (a table) in memory.
    rows_client = [client, *common, "--batch", "--raw", "--skip-column-names", "--quick", f"--database={database}"]
    sink.write(b"-- dbkeeper ordered MySQL dump 1\n")
    stream_out([*schema, "--routines", "--events", "--skip-triggers", "--", database], base_env(), sink,
               secrets=secrets)
    sink.write(_PRELUDE)
    sessions = min(workers, sum(len(p) for p in plan))
    meta: dict[str, Any] = {"parallel": False, "workers": 1}
    if sessions > 1:
        try:
            meta = _parallel(connection, sink, plan, workers=sessions, argv=[*rows_client, "--unbuffered"],
                             secrets=secrets)
        except SnapshotUnavailable as exc:
            meta = {"parallel": False, "workers": 1, "parallel_fallback": str(exc)}
    if not meta["parallel"] and tables:
        statements = ["SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SET time_zone = '+00:00'",
                      f"SET SESSION net_write_timeout = {SESSION_TIMEOUT}",
                      "START TRANSACTION WITH CONSISTENT SNAPSHOT"]
        for table in tables:
            statements += _select(table)
        statements.append("COMMIT")
        stream_out([*rows_client, "-e", ";\n".join(statements) + ";"], base_env(), sink, secrets=secrets)
    sink.write(_POSTLUDE)
    stream_out([*schema, "--no-create-info", "--triggers", "--skip-routines", "--skip-events", "--", database],
               base_env(), sink, secrets=secrets)
    return {"format": FORMAT, "chainable": True, "ordered": True, "tables": len(tables),
            "unordered_tables": [t["name"] for t in tables if not t["key"]], **meta}
