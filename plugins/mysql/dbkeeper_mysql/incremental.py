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

Key ranges. A table of at least :data:`RANGE_ROWS` (estimated) rows with
a single integer primary key is exported as :data:`RANGES` key ranges of
equal width between its smallest and largest key (the first and last are
open-ended, so rows written after the bounds were read are still exported
once). A chain's full backup fixes the bounds and its incrementals keep
them; the sink is cut at every range boundary and each range's span of
the chunk sequence is recorded in the dump metadata. A range prints as if
it were a table of its own (its first row starts an ``INSERT``, a ``;``
ends its last), so its bytes depend on its rows only.

Skipping what did not change. An incremental or differential reads the
server's binary log from its base's snapshot position to its own
(:mod:`dbkeeper_mysql._binlog`) and appends the base's chunk span for every
range no logged row falls in, instead of exporting it again. Reuse is off
for a table whose columns changed, for children of cascading foreign keys
(InnoDB does not log those changes), and for the whole dump when the server
version or SQL mode differ from the base's or when the log cannot prove
anything (no binary log, statements in it, a reset log, missing privileges:
the result's ``reuse_skipped`` says which). Without a usable log an
incremental still stores only new chunks, but reads every row.

Parallel export (``workers`` > 1, when the caller asks for it: the brief
global read lock is not something a backup should take unasked, and on two
CPUs shared with the server it gains little): the parts (one per table or
key range) run in worker sessions that share one snapshot, synchronised the
way ``mydumper`` does it (:mod:`dbkeeper_mysql._sessions`: ``FLUSH TABLES
WITH READ LOCK``, a ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` per
session, ``UNLOCK TABLES``; writes wait for about a millisecond), and
:func:`~dbkeeper.backup.export.write_ordered` writes their output in order
with bounded memory. The stream is byte-identical whatever the number of
workers, so chunks are shared across backups made with different settings.
Without the ``RELOAD`` privilege, when the lock cannot be had within
:data:`dbkeeper_mysql._sessions.LOCK_WAIT_TIMEOUT` seconds (it waits for
running writes), or when the sessions cannot be opened, the rows are read
by one session instead and the result says so (``parallel: false`` and
``parallel_fallback``: the reason). Tables outside InnoDB (MyISAM, Aria)
have no snapshot in either mode, as with ``mariadb-dump
--single-transaction``. The clients run with ``--quick``, so they print
rows as they arrive instead of holding a whole table in memory.
"""

from __future__ import annotations

import itertools
import queue
from collections.abc import Callable, Sequence
from typing import IO, Any

from dbkeeper.backup.export import Emit, Part, write_ordered
from dbkeeper.backup.tools import base_env, stream_out
from dbkeeper.contract.session import Session
from dbkeeper_mysql._binlog import BinlogChanges, TrackedTable, plain_name, snapshot_position
from dbkeeper_mysql._sessions import (
    SESSION_TIMEOUT,
    ClientSession,
    SnapshotUnavailable,
    open_sessions,
    synchronise,
)

FORMAT = "sql"
STATEMENT_ROWS = 2048
#: Tables with at least this many (estimated) rows and a single integer key are exported as key ranges.
RANGE_ROWS = 100_000
#: Key ranges of such a table: the unit of parallel export and of reuse by incrementals.
RANGES = 16
_INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
_HEX_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit", "geometry", "point",
              "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}
_NUMBER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float",
                 "double", "real", "year"}
_PLAIN_TEXT_TYPES = {"date", "datetime", "timestamp", "time"}
#: Per table: the table, its key range bounds (``None``: one part) and the base's ranges it may reuse.
Plan = list[tuple[dict[str, Any], list[int] | None, dict[str, Any] | None]]
_PRELUDE = (b"/*!40101 SET NAMES utf8mb4 */;\n/*!40014 SET FOREIGN_KEY_CHECKS=0 */;\n"
            b"/*!40014 SET UNIQUE_CHECKS=0 */;\n/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
            b"/*!40103 SET TIME_ZONE='+00:00' */;\n")
_POSTLUDE = b"/*!40014 SET FOREIGN_KEY_CHECKS=1 */;\n/*!40014 SET UNIQUE_CHECKS=1 */;\n"


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tables(conn: Session, database: str) -> list[dict[str, Any]]:
    """Base tables with their stored columns, key, row estimate and what decides how their rows print."""
    found = [(r["t"], r["n"], r["d"]) for r in conn.execute(
        "SELECT table_name AS t, table_rows AS n, data_length AS d FROM information_schema.tables "
        "WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY table_name", (database,)).rows]
    tables = []
    for name, estimate, size in found:
        columns = conn.execute(
            "SELECT column_name AS c, data_type AS t, column_type AS ct, ordinal_position AS o, extra AS x, "
            "character_set_name AS cs, collation_name AS co FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (database, name)).rows
        key = [r["c"] for r in conn.execute(
            "SELECT column_name AS c FROM information_schema.statistics WHERE table_schema = %s AND table_name = %s "
            "AND index_name = 'PRIMARY' ORDER BY seq_in_index", (database, name)).rows]
        stored = [r for r in columns if "GENERATED" not in str(r["x"]).upper()]
        by_name = {r["c"]: r for r in columns}
        tables.append({
            "name": name, "columns": [(r["c"], str(r["t"]).lower()) for r in stored], "key": key,
            "estimated_rows": int(estimate or 0), "data_length": int(size or 0),
            # The binary log numbers every column, generated ones included.
            "key_ordinal": int(by_name[key[0]]["o"]) if len(key) == 1 else None,
            "key_unsigned": len(key) == 1 and "unsigned" in str(by_name[key[0]]["ct"]).lower(),
            "identity": "; ".join(f"{r['c']} {r['ct']} {r['cs']} {r['co']} {r['x']}" for r in columns)})
    return tables


def _cascade_children(conn: Session, database: str) -> set[str]:
    """Tables a foreign key action can change (``CASCADE``, ``SET NULL``, ``SET DEFAULT``): InnoDB does not log it."""
    return {str(r["t"]) for r in conn.execute(
        "SELECT DISTINCT table_name AS t FROM information_schema.referential_constraints "
        "WHERE constraint_schema = %s AND (delete_rule NOT IN ('RESTRICT', 'NO ACTION') "
        "OR update_rule NOT IN ('RESTRICT', 'NO ACTION'))", (database,)).rows}


def _dump_identity(conn: Session) -> str:
    """What decides how unchanged rows print, beyond the tables' own columns: the server and its SQL mode."""
    row = conn.execute("SELECT VERSION() AS v, @@global.sql_mode AS m").rows[0]
    return f"{row['v']}|{row['m']}"


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


def _select(table: dict[str, Any], where: str = "") -> list[str]:
    """Statements printing the table's rows (or those ``where`` selects: one key range) as multi-row INSERTs.

    A range prints as if it were the whole table: its first row starts an
    ``INSERT`` and a ``;`` closes its last, so its bytes depend on its own
    rows only. That is what lets an incremental reuse an unchanged range's
    chunks whatever happened in the ranges around it.
    """
    name = _q(table["name"])
    columns: Sequence[tuple[str, str]] = table["columns"]
    header = f"INSERT INTO {name} ({', '.join(_q(c) for c, _ in columns)}) VALUES "
    row = "CONCAT('(', " + ", ',', ".join(_value(c, t) for c, t in columns) + ", ')')"
    if not table["key"]:  # fallback: storage order, one INSERT per row
        return [f"SELECT CONCAT({_lit(header)}, {row}, ';') FROM {name}"]
    keys = ", ".join(_q(k) for k in table["key"])
    first = f"({keys}) = (SELECT {keys} FROM {name}{where} ORDER BY {keys} LIMIT 1)"
    boundary = f"CRC32(CONCAT_WS(0x1f, {keys})) % {STATEMENT_ROWS} = 0"
    line = f"IF({first}, {_lit(header)}, IF({boundary}, {_lit(';' + header)}, ','))"
    return [f"SELECT CONCAT({line}, {row}) FROM {name}{where} ORDER BY {keys}",
            f"SELECT ';' FROM {name}{where} LIMIT 1"]


def _bounds(conn: Session, table: dict[str, Any]) -> list[int] | None:
    """Inner bounds cutting a large single-integer-key table into :data:`RANGES` key ranges, or ``None``.

    Bounds split ``min..max`` of the key evenly (two index look-ups; an
    ``OFFSET`` walk would read the whole clustered index). Skewed keys make
    uneven ranges, which costs speed, never correctness: the ranges are
    disjoint and the first and last are open-ended, so every row of the
    snapshot falls in exactly one, however the table changed since.
    """
    types = dict(table["columns"])
    if len(table["key"]) != 1 or types.get(table["key"][0]) not in _INTEGER_TYPES \
            or table["estimated_rows"] < RANGE_ROWS:
        return None
    key = _q(table["key"][0])
    row = conn.execute(f"SELECT MIN({key}) AS lo, MAX({key}) AS hi FROM {_q(table['name'])}").rows[0]
    if row["lo"] is None or int(row["hi"]) - int(row["lo"]) < RANGES:
        return None
    low, high = int(row["lo"]), int(row["hi"])
    step = (high - low + 1) // RANGES
    return [low + step * i for i in range(1, RANGES)]


def _clauses(key: str, bounds: list[int]) -> list[str]:
    """``WHERE`` clauses of the ranges ``bounds`` cut: below the first, between neighbours, from the last on."""
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


def _reusable(part: Part, export: Callable[[Emit], None], changes: BinlogChanges, *, name: str, number: int,
              span: Sequence[int]) -> Callable[[Emit], None]:
    """A range part's producer: the base's chunk ``span`` when the log shows the range unchanged, else ``export``.

    It sets ``part.reuse`` before it finishes, which is when the ordered
    writer looks at it (:func:`dbkeeper.backup.export.write_ordered`).
    """

    def produce(emit: Emit) -> None:
        if changes.unchanged(name, number):
            part.reuse = (int(span[0]), int(span[1]))
        else:
            export(emit)

    return produce


def _snapshot_sessions(connection: Session, argv: list[str], secrets: list[str | None],
                       workers: int) -> tuple[list[ClientSession], dict[str, Any]]:
    """Client sessions in one consistent snapshot, and what the result should say about them.

    Several sessions share the snapshot through a brief global read lock
    (:mod:`dbkeeper_mysql._sessions`); when that is not possible, one session
    reads everything and the result says why (``parallel_fallback``).
    """
    setup = ["SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SET time_zone = '+00:00'",
             f"SET SESSION net_write_timeout = {SESSION_TIMEOUT}, wait_timeout = {SESSION_TIMEOUT}"]
    fallback: dict[str, Any] = {}
    if workers > 1:
        try:
            sessions = open_sessions(argv, base_env(), secrets, workers, setup)
            try:
                locked = synchronise(connection, sessions, secrets)
            except BaseException:
                for session in sessions:
                    session.kill()
                raise
            return sessions, {"parallel": True, "workers": workers, "lock_seconds": round(locked, 4)}
        except SnapshotUnavailable as exc:
            fallback = {"parallel_fallback": str(exc)}
    session = ClientSession(argv, base_env(), secrets)
    try:
        session.run([*setup, "START TRANSACTION WITH CONSISTENT SNAPSHOT"])
    except BaseException:
        session.kill()
        raise
    return [session], {"parallel": False, "workers": 1, **fallback}


def _plan(connection: Session, database: str, base_dump: dict[str, Any] | None
          ) -> tuple[Plan, str, str | None]:
    """Per table: the table, its key range bounds (``None``: one part) and the base's ranges it may reuse.

    Also the dump identity, and why nothing of the base can be reused (when
    the server version, its SQL mode or the dump layout differ).
    """
    with connection:
        tables = _tables(connection, database)
        identity = _dump_identity(connection)
        cascaded = _cascade_children(connection, database)
        skipped = None
        if base_dump is not None and (base_dump.get("format") != FORMAT or base_dump.get("identity") != identity
                                      or "ranges" not in base_dump):
            skipped = "the base backup was made by another server version, SQL mode or dump layout"
        base_ranges: dict[str, Any] = (base_dump or {}).get("ranges") or {} if skipped is None else {}
        plan: Plan = []
        for table in tables:
            base = base_ranges.get(table["name"])
            if base is not None and (base.get("key") != table["key"] or base.get("columns") != table["identity"]):
                base = None
            bounds = [int(b) for b in base["bounds"]] if base is not None else _bounds(connection, table)
            trackable = table["name"] not in cascaded and plain_name(table["name"]) and plain_name(database)
            plan.append((table, bounds, base if trackable else None))
    return plan, identity, skipped


def _parts(plan: Plan, pool: queue.Queue[Any], changes: BinlogChanges | None,
           ranged: dict[str, dict[str, Any]]) -> tuple[list[Part], list[tuple[str, int]]]:
    """The export's parts in stream order, and per key range its table and the index of its part.

    A table without key ranges is one part. A ranged table is one part per
    range, each cut before (so its chunks are its own), then an empty part
    that cuts after the last; with ``changes``, a range of a table the log
    follows reuses the base's span when the log shows it unchanged. Fills
    ``ranged`` with each ranged table's metadata (spans are added once the
    cut positions are known).
    """
    parts: list[Part] = []
    spans: list[tuple[str, int]] = []
    for table, bounds, base in plan:
        if bounds is None:
            parts.append(Part(_part(pool, _select(table))))
            continue
        ranged[table["name"]] = {"key": table["key"], "columns": table["identity"], "bounds": bounds, "spans": []}
        for number, where in enumerate(_clauses(_q(table["key"][0]), bounds)):
            spans.append((table["name"], len(parts)))
            part = Part(cut=True)
            export = _part(pool, _select(table, where))
            part.produce = export if base is None or changes is None else _reusable(
                part, export, changes, name=table["name"], number=number, span=base["spans"][number])
            parts.append(part)
        parts.append(Part(cut=True))  # the table's last range ends its chunks here
    return parts, spans


def dump_ordered(connection: Session, sink: IO[bytes], *, dump_tool: str, client: str,
                 binlog_tool: str | None, defaults_file: str, database: str, secrets: list[str | None],
                 workers: int = 1, base_dump: dict[str, Any] | None = None,
                 binlog_unavailable: str | None = None) -> dict[str, Any]:
    """Write the chainable SQL dump of ``database`` into ``sink``; return what it holds.

    With ``workers`` > 1 the rows are read by that many sessions sharing one
    snapshot, falling back to one session (and saying why in the result)
    when the snapshot cannot be shared; the bytes are the same either way.
    With ``base_dump`` (the dump metadata of an incremental's base) the key
    ranges the binary log shows unchanged reuse the base's chunks
    (:mod:`dbkeeper_mysql._binlog`; ``binlog_tool`` reads the log, or
    ``binlog_unavailable`` says why it cannot).
    """
    plan, identity, skipped = _plan(connection, database, base_dump)
    common = [f"--defaults-extra-file={defaults_file}", "--default-character-set=utf8mb4"]
    schema = [dump_tool, *common, "--single-transaction", "--no-data", "--skip-dump-date", "--no-tablespaces"]
    # --quick: the client prints rows as they arrive instead of holding the whole result (a table) in memory;
    # --unbuffered: it hands over each statement's output at once (a session's batches end on a marker line).
    rows_client = [client, *common, "--batch", "--raw", "--skip-column-names", "--quick", "--unbuffered",
                   f"--database={database}"]
    sink.write(b"-- dbkeeper ordered MySQL dump 2\n")
    stream_out([*schema, "--routines", "--events", "--skip-triggers", "--", database], base_env(), sink,
               secrets=secrets)
    sink.write(_PRELUDE)
    part_count = sum(1 if bounds is None else RANGES for _, bounds, _ in plan)
    meta: dict[str, Any] = {}
    ranged: dict[str, dict[str, Any]] = {}
    position: dict[str, Any] | None = None
    changes: BinlogChanges | None = None
    reused = 0
    if plan:
        sessions, meta = _snapshot_sessions(connection, rows_client, secrets, min(workers, part_count))
        ok = False
        try:
            status: list[bytes] = []
            sessions[0].run(["SHOW STATUS LIKE 'binlog_snapshot_%'"], status.append)
            position = snapshot_position(b"".join(status), connection)
            if base_dump is not None and skipped is None:
                trackable = [(t, bounds) for t, bounds, base in plan if base is not None and bounds is not None]
                tracked = [TrackedTable(t["name"], t["key_ordinal"], t["key_unsigned"], bounds)
                           for t, bounds in trackable]
                if not tracked:
                    skipped = ("no table has key ranges the binary log can follow (a single integer key, at least "
                               f"{RANGE_ROWS} rows, columns as in the base, no cascading foreign key, a name "
                               "without backticks or control characters)")
                elif binlog_tool is None:
                    skipped = binlog_unavailable or "no binary log reader"
                else:  # read on a thread while the first parts are exported; range parts wait for it
                    changes = BinlogChanges([binlog_tool, f"--defaults-extra-file={defaults_file}"], connection,
                                            base_dump.get("binlog"), position, tracked, database=database,
                                            secrets=secrets,
                                            budget=sum(t["data_length"] for t, _ in trackable)).start()
            pool: queue.Queue[Any] = queue.Queue()
            for session in sessions:
                pool.put(session)
            parts, spans = _parts(plan, pool, changes, ranged)
            positions = write_ordered(sink, parts, len(sessions))
            for name, at in spans:
                ranged[name]["spans"].append([positions[at], positions[at + 1]])
            reused = sum(1 for part in parts if part.reuse is not None)
            meta["parts"] = len(parts) - len(ranged)
            ok = True
        finally:
            if changes is not None:
                changes.close()
            for session in sessions:
                if ok:
                    session.close()
                else:
                    session.kill()
    sink.write(_POSTLUDE)
    stream_out([*schema, "--no-create-info", "--triggers", "--skip-routines", "--skip-events", "--", database],
               base_env(), sink, secrets=secrets)
    result = {"format": FORMAT, "chainable": True, "ordered": True, "tables": len(plan), "identity": identity,
              "binlog": position, "ranges": ranged, "ranges_reused": reused,
              "ranges_exported": sum(len(r["spans"]) for r in ranged.values()) - reused,
              "unordered_tables": [t["name"] for t, _, _ in plan if not t["key"]], "parallel": False, "workers": 1,
              **meta}
    if changes is not None:
        skipped = changes.result()
    if skipped is not None:
        result["reuse_skipped"] = skipped
    if "parallel_fallback" in result:
        result["warnings"] = [f"rows were read by one session, not {workers}: {result['parallel_fallback']}"]
    return result
