"""The chainable PostgreSQL dump: schema from pg_dump, rows by ordered COPY, one snapshot.

``pg_dump -Fc`` writes table data in heap order, so updating 1 % of the rows
made 99.5 % of its bytes look new to content-defined chunking. This dump
(``format: "dbkeeper-pg-ordered"``) writes every table's rows in
primary-key order instead, as ``COPY ... TO STDOUT`` text (one line per
row), so a change only touches the chunks holding the changed rows.

Consistency: one connection opens a ``REPEATABLE READ READ ONLY``
transaction and exports its snapshot (``pg_export_snapshot()``); the schema
comes from one ``pg_dump --schema-only --snapshot`` (itself run alongside
the first COPYs), and
every COPY runs in a ``psql`` session that first does ``SET TRANSACTION
SNAPSHOT``, so the whole backup sees one instant while writers go on.
The COPYs run in parallel (:mod:`dbkeeper.backup.export`): per table, and
per primary-key range for large tables with a single integer key. ``psql``
does the copying in C, so the workers do not contend for the GIL.

Skipping what did not change. A table of at least :data:`RANGE_ROWS`
(estimated) rows with a single integer primary key is exported as
:data:`RANGES` key ranges whose bounds a chain's full backup fixes and its
incrementals keep (recorded in the dump metadata with each range's row
count and its span of the chunk sequence: the sink is cut at every range
boundary). An incremental or differential first asks the server, in its
own snapshot, for each range's row count and whether any row in it has an
``xmin`` at or after the base snapshot's ``xmin`` (one ``GROUP BY`` over
the table, no row text). A range with the base's count and no such row
holds exactly the base's rows (an insert or update gives the new row
version a newer ``xmin``; a delete lowers the count; a row the base could
not see has an ``xmin`` at or after the base's), so the incremental appends
the base's chunk span for it instead of exporting it. Reuse is off for a
table whose columns or types changed, and for the whole dump when the
server version, the installed extensions, enum labels or the output
settings (``TimeZone``, ``DateStyle``, ``IntervalStyle``,
``extra_float_digits``, ``bytea_output``) differ from the base's, or when
2^31 - 2^24 transactions have passed since the base (``xmin`` comparisons
wrap): each would change how unchanged rows print. A change to a type's
output function outside those (a custom base type) is not seen: take a
full backup after such an upgrade.

Tables without a primary key are exported in heap order (documented
fallback: correct, but an update there dirties more chunks).

Large objects (``pg_largeobject``; ``pg_dump --schema-only`` leaves them
out) follow the tables, in OID order, read in the same snapshot with
``lo_get`` in pieces of :data:`LO_PIECE` bytes, each piece one base64 line
(so chunks end on piece boundaries and an unchanged object keeps its bytes).
Their owners and ACLs are not kept, as the restore's ``--no-owner
--no-privileges`` drops every other owner and grant. The role needs
``SELECT`` on each object (or ``lo_compat_privileges``). A database without
large objects gets no such section, so its stream is what it was before.

The stream::

    DBKPGORD 1\\n
    #schema <n>\\n   <n bytes: pg_dump -Fc --schema-only --snapshot=...>
    #table <json>\\n <COPY text rows> \\.\\n      (once per table)
    #lo <oid> <size>\\n <base64 line per piece>   (once per large object, if any)
    #sequences <json>\\n
    #post\\n
    #end\\n

Restore: the schema's pre-data section with ``pg_restore
--section=pre-data``, rows with ``COPY FROM STDIN``, sequence values with
``setval``, then its post-data section (indexes, constraints, triggers)
with ``pg_restore --section=post-data``, all into the scratch database
that :func:`dbkeeper_postgres.dump.restore` then swaps in.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import IO, Any, cast

from dbkeeper.backup.errors import CorruptBackupError
from dbkeeper.backup.export import Emit, Part, write_ordered
from dbkeeper.backup.tools import stream_in, stream_out
from dbkeeper.contract.session import Session
from dbkeeper.urls import DatabaseURL
from dbkeeper_postgres._client_tools import client_tool

FORMAT = "dbkeeper-pg-ordered"
MAGIC = b"DBKPGORD 1\n"
#: Tables with at least this many (estimated) rows and a single integer key are exported as key ranges.
RANGE_ROWS = 100_000
#: Key ranges of such a table: the unit of parallel export and of reuse by incrementals.
RANGES = 16
#: Reuse stops when this many transactions have passed since the base (32-bit ``xmin`` comparisons).
MAX_XID_DISTANCE = (1 << 31) - (1 << 24)
BLOCK = 1 << 20
#: Bytes of a large object per ``lo_get`` call and per base64 line of the stream (a multiple of 3: no padding
#: inside an object).
LO_PIECE = 3 << 16
_INV_READ = 0x40000
_INTEGER_TYPES = ("int2", "int4", "int8")

EnvFactory = Callable[..., Any]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(cur: Any) -> list[dict[str, Any]]:
    """User tables (partitions included, partitioned parents not), columns, key, estimated rows.

    The estimate is the planner's ``reltuples``; a table never vacuumed or
    analyzed has none, and its size divided by 64 bytes a row stands in.
    """
    cur.execute("""
        SELECT c.oid, n.nspname, c.relname,
               CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint  -- -1: never vacuumed or analyzed; guess
                    ELSE pg_catalog.pg_relation_size(c.oid) / 64 END AS est
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY n.nspname, c.relname""")
    tables = []
    for oid, schema, name, est in cur.fetchall():
        cur.execute("SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = %s AND attnum > 0 "
                    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum", (oid,))
        columns = [r[0] for r in cur.fetchall()]
        cur.execute("""
            SELECT a.attname, t.typname FROM pg_catalog.pg_index i
            JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos) ON true
            JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
            WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.pos""", (oid,))
        key = cur.fetchall()
        tables.append({"oid": oid, "schema": schema, "name": name, "columns": columns, "key": [k[0] for k in key],
                       "key_types": [k[1] for k in key], "estimated_rows": max(int(est), 0)})
    return tables


def _sequences(cur: Any) -> list[list[Any]]:
    cur.execute("SELECT schemaname, sequencename, last_value FROM pg_catalog.pg_sequences "
                "WHERE last_value IS NOT NULL ORDER BY 1, 2")
    return [[s, n, int(v)] for s, n, v in cur.fetchall()]


def _large_objects(cur: Any, sink: IO[bytes]) -> int:
    """Write every large object visible in the snapshot of ``cur``; return how many there were."""
    cur.execute("SELECT oid FROM pg_catalog.pg_largeobject_metadata ORDER BY oid")
    oids = [int(r[0]) for r in cur.fetchall()]
    for oid in oids:
        # Opened for reading, an object shows its content as of the transaction's snapshot.
        cur.execute("SELECT pg_catalog.lo_open(%s::oid, %s)", (oid, _INV_READ))
        fd = int(cur.fetchone()[0])
        cur.execute("SELECT pg_catalog.lo_lseek64(%s, 0, 2)", (fd,))  # SEEK_END: the size
        size = int(cur.fetchone()[0])
        cur.execute("SELECT pg_catalog.lo_lseek64(%s, 0, 0)", (fd,))
        sink.write(b"#lo %d %d\n" % (oid, size))
        for _offset in range(0, size, LO_PIECE):
            cur.execute("SELECT pg_catalog.loread(%s, %s)", (fd, LO_PIECE))
            sink.write(base64.b64encode(bytes(cur.fetchone()[0])) + b"\n")
        cur.execute("SELECT pg_catalog.lo_close(%s)", (fd,))
    return len(oids)


def _bounds(cur: Any, table: dict[str, Any]) -> list[int] | None:
    """Inner bounds cutting a large single-integer-key table into :data:`RANGES` key ranges, or ``None``."""
    if len(table["key"]) != 1 or table["key_types"][0] not in _INTEGER_TYPES or table["estimated_rows"] < RANGE_ROWS:
        return None
    key = _q(table["key"][0])
    cur.execute(f"SELECT min({key}), max({key}) FROM ONLY {_q(table['schema'])}.{_q(table['name'])}")
    low, high = cur.fetchone()
    if low is None or high - low < RANGES:
        return None
    step = (high - low + 1) // RANGES
    return [low + step * i for i in range(1, RANGES)]


def _clauses(key: str, bounds: list[int]) -> list[str]:
    """``WHERE`` clauses of the ranges ``bounds`` cut: below the first, between neighbours, from the last on."""
    clauses = [f" WHERE {key} < {bounds[0]}"]
    clauses += [f" WHERE {key} >= {a} AND {key} < {b}" for a, b in itertools.pairwise(bounds)]
    clauses.append(f" WHERE {key} >= {bounds[-1]}")
    return clauses


def _dump_identity(cur: Any) -> str:
    """What decides how unchanged rows print, beyond the table's own columns (see the module documentation)."""
    cur.execute("""
        SELECT current_setting('server_version_num') || '|' || current_setting('TimeZone') || '|'
            || current_setting('DateStyle') || '|' || current_setting('IntervalStyle') || '|'
            || current_setting('extra_float_digits') || '|' || current_setting('bytea_output') || '|'
            || coalesce((SELECT string_agg(extname || ' ' || extversion, ',' ORDER BY extname)
                         FROM pg_catalog.pg_extension), '') || '|'
            || coalesce((SELECT md5(string_agg(enumtypid::text || ':' || enumlabel, ',' ORDER BY enumtypid,
                                               enumsortorder)) FROM pg_catalog.pg_enum), '')""")
    return str(cur.fetchone()[0])


def _columns_identity(cur: Any, table: dict[str, Any]) -> str:
    cur.execute("SELECT string_agg(attname || ' ' || pg_catalog.format_type(atttypid, atttypmod), ', ' "
                "ORDER BY attnum) FROM pg_catalog.pg_attribute WHERE attrelid = %s AND attnum > 0 "
                "AND NOT attisdropped", (table["oid"],))
    return str(cur.fetchone()[0])


def _unchanged_ranges(cur: Any, table: dict[str, Any], base: dict[str, Any], base_xmin: int) -> list[bool]:
    """Per range of ``base``'s bounds: True when it holds exactly the rows it held at the base.

    One pass over the table in this backup's snapshot: each range's row count
    and whether any row version was created at or after the base snapshot's
    ``xmin``. ``age()`` compares 32-bit transaction ids modulo 2^32 from the
    current one, which is right while fewer than 2^31 have passed (checked
    by the caller); frozen row versions count as old.
    """
    key = _q(table["key"][0])
    bounds = [int(b) for b in base["bounds"]]
    cur.execute("SELECT pg_catalog.age(%s::text::xid)", (str(base_xmin % (1 << 32)),))
    distance = int(cur.fetchone()[0])
    cur.execute(f"SELECT pg_catalog.width_bucket({key}, %s::bigint[]) AS r, count(*), "
                f"bool_or(pg_catalog.age(xmin) <= %s) FROM ONLY {_q(table['schema'])}.{_q(table['name'])} "
                "GROUP BY 1", (bounds, distance))
    seen = {int(r): (int(n), bool(changed)) for r, n, changed in cur.fetchall()}
    return [seen.get(i, (0, False)) == (int(rows), False) for i, rows in enumerate(base["rows"])]


def _start_signal(connection: Session, snapshot: str, checks: list[tuple[dict[str, Any], dict[str, Any]]],
                  *, base_xmin: int, result: Future[dict[str, list[bool]]]) -> None:
    """Compute :func:`_unchanged_ranges` for every table in ``checks`` on a thread; fill ``result``."""

    def run() -> None:
        try:
            conn = connection.dialect.connect(connection.url, autocommit=True)
            try:
                cur = conn.cursor()
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                found = {f"{t['schema']}.{t['name']}": _unchanged_ranges(cur, t, base, base_xmin) for t, base in checks}
                cur.execute("COMMIT")
            finally:
                conn.close()
        except BaseException as exc:  # handed to every range part waiting for it
            result.set_exception(exc)
        else:
            result.set_result(found)

    threading.Thread(target=run, name="dbkeeper-change-signal", daemon=True).start()


def _reusable(part: Part, copy: Callable[[Emit], None], *, signal: Future[dict[str, list[bool]]], name: str,
              number: int, base: dict[str, Any], counter: list[int]) -> Callable[[Emit], None]:
    """A range part's producer: reuse the base's span when the signal says unchanged, else run ``copy``.

    It sets ``part.reuse`` before it finishes, which is when the ordered
    writer looks at it (:func:`dbkeeper.backup.export.write_ordered`).
    """

    def produce(emit: Emit) -> None:
        if signal.result()[name][number]:
            start, end = base["spans"][number]
            counter[0] = int(base["rows"][number])
            part.reuse = (int(start), int(end))
        else:
            copy(emit)

    return produce


def _base_xmin(cur: Any, base_dump: dict[str, Any] | None, identity: str) -> int | None:
    """The base snapshot's ``xmin`` when its ranges may be reused, else ``None``."""
    if not base_dump or base_dump.get("format") != FORMAT or base_dump.get("identity") != identity:
        return None
    base_xmin = base_dump.get("snapshot_xmin")
    if not isinstance(base_xmin, int) or base_xmin % (1 << 32) < 3:  # 0-2 are special transaction ids
        return None
    cur.execute("SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint")
    if int(cur.fetchone()[0]) - base_xmin >= MAX_XID_DISTANCE:
        return None
    return base_xmin


def _copy_part(psql: str, env: dict[str, str], snapshot: str, sql: str,
               secrets: list[str | None], *, rows: list[int] | None = None) -> Callable[[Emit], None]:
    """A part that runs ``sql`` (a ``COPY ... TO STDOUT``) in a ``psql`` session on the snapshot.

    With ``rows``, the part counts the rows (lines) it emits into ``rows[0]``.
    """
    script = ["-c", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "-c", f"SET TRANSACTION SNAPSHOT '{snapshot}'",
              "-c", sql, "-c", "COMMIT"]

    def produce(emit: Emit) -> None:
        class _Blocks(io.RawIOBase):
            def __init__(self) -> None:
                super().__init__()
                self.buffer = bytearray()

            def writable(self) -> bool:
                return True

            def write(self, data: Any) -> int:
                self.buffer += data
                if len(self.buffer) >= BLOCK:
                    self.flush_block()
                return len(data)

            def flush_block(self) -> None:
                block = bytes(self.buffer)
                self.buffer.clear()
                if rows is not None:
                    rows[0] += block.count(b"\n")
                emit(block)

        blocks = _Blocks()
        stream_out([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password", *script], env,
                   cast("IO[bytes]", blocks), secrets=secrets)
        if blocks.buffer:
            blocks.flush_block()

    return produce


def dump_ordered(connection: Session, sink: IO[bytes], options: dict[str, Any], *,
                 tool_env: EnvFactory, pg_dump: str, workers: int) -> dict[str, Any]:
    """Write the chainable dump of the connected database into ``sink``; return what it holds.

    With ``options["base_dump"]`` (the dump metadata of an incremental's
    base) key ranges proven unchanged reuse the base's chunks (see above).
    """
    url = connection.url
    psql = client_tool("psql", "install the PostgreSQL client tools (psql comes with pg_dump)")
    exporter = connection.dialect.connect(url, autocommit=True)
    try:
        cur = exporter.cursor()
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cur.execute("SELECT pg_catalog.pg_export_snapshot()")
        snapshot = str(cur.fetchone()[0])
        cur.execute("SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text::bigint")
        snapshot_xmin = int(cur.fetchone()[0])
        identity = _dump_identity(cur)
        tables = _tables(cur)
        sequences = _sequences(cur)
        base_dump = options.get("base_dump")
        base_xmin = _base_xmin(cur, base_dump, identity)
        base_ranges: dict[str, Any] = (base_dump or {}).get("ranges") or {} if base_xmin is not None else {}
        ranged: dict[str, dict[str, Any]] = {}
        checks: list[tuple[dict[str, Any], dict[str, Any]]] = []
        signal: Future[dict[str, list[bool]]] = Future()
        with tool_env(url) as env:
            schema_argv = [pg_dump, "--format=custom", "--compress=0", "--no-password", "--schema-only",
                           f"--snapshot={snapshot}"]

            def schema(emit: Emit) -> None:
                buf = io.BytesIO()
                stream_out(schema_argv, env, buf, secrets=[url.password])
                emit(b"#schema %d\n" % len(buf.getvalue()) + buf.getvalue())

            # The schema dump is the first part, so it runs alongside the first tables' COPYs.
            parts: list[Part] = [Part(schema, prefix=MAGIC)]
            spans: list[tuple[str, int, int]] = []  # (table, range number, index of its part)
            counters: dict[tuple[str, int], list[int]] = {}
            for table in tables:
                qualified = f"{_q(table['schema'])}.{_q(table['name'])}"
                order = f" ORDER BY {', '.join(_q(k) for k in table['key'])}" if table["key"] else ""
                cols = ", ".join(_q(c) for c in table["columns"])
                header = b"#table " + json.dumps({k: table[k] for k in ("schema", "name", "columns", "key")},
                                                 sort_keys=True).encode() + b"\n"
                name = f"{table['schema']}.{table['name']}"
                base = base_ranges.get(name)
                if base is not None and (base.get("key") != table["key"]
                                         or base.get("columns") != _columns_identity(cur, table)):
                    base = None
                bounds = [int(b) for b in base["bounds"]] if base is not None else _bounds(cur, table)
                if bounds is None:
                    sql = f"COPY (SELECT {cols} FROM ONLY {qualified}{order}) TO STDOUT"
                    parts.append(Part(_copy_part(psql, dict(env), snapshot, sql, [url.password]), prefix=header,
                                      suffix=b"\\.\n"))
                    continue
                columns_identity = base["columns"] if base is not None else _columns_identity(cur, table)
                if base is not None:
                    checks.append((table, base))
                ranged[name] = {"key": table["key"], "columns": columns_identity, "bounds": bounds,
                                "rows": [], "spans": []}
                parts.append(Part(prefix=header))
                for i, where in enumerate(_clauses(_q(table["key"][0]), bounds)):
                    spans.append((name, i, len(parts)))
                    counter = counters[(name, i)] = [0]
                    sql = f"COPY (SELECT {cols} FROM ONLY {qualified}{where}{order}) TO STDOUT"
                    part = Part(cut=True)
                    copy = _copy_part(psql, dict(env), snapshot, sql, [url.password], rows=counter)
                    part.produce = copy if base is None else _reusable(part, copy, signal=signal, name=name, number=i,
                                                                       base=base, counter=counter)
                    parts.append(part)
                parts.append(Part(prefix=b"\\.\n", cut=True))
            # The change signal (one GROUP BY per table with a base) runs on a connection of its own in the same
            # snapshot, alongside the schema dump and the other tables' COPYs; a range part waits for it.
            if checks:
                _start_signal(connection, snapshot, checks, base_xmin=base_xmin or 0, result=signal)
            else:
                signal.set_result({})
            positions = write_ordered(sink, parts, workers)
        reused = sum(1 for each in parts if each.reuse is not None)
        exported = len(spans) - reused
        for name, i, at in spans:
            ranged[name]["rows"].append(counters[(name, i)][0])
            ranged[name]["spans"].append([positions[at], positions[at + 1]])
        large_objects = _large_objects(cur, sink)
        sink.write(b"#sequences " + json.dumps(sequences).encode() + b"\n")
        sink.write(b"#post\n#end\n")
        cur.execute("COMMIT")
    finally:
        exporter.close()
    result = {"format": FORMAT, "chainable": True, "tables": len(tables), "workers": workers,
              "large_objects": large_objects, "snapshot_xmin": snapshot_xmin, "identity": identity,
              "ranges": ranged, "ranges_reused": reused, "ranges_exported": exported,
              "unordered_tables": [f"{t['schema']}.{t['name']}" for t in tables if not t["key"]]}
    if base_dump and base_xmin is None:
        result["reuse_skipped"] = ("the base backup was made by another dump format, server version, extension "
                                   "set, enum labels or output settings, or 2^31 - 2^24 transactions ago")
    return result


class _Reader:
    """Reads the stream's sections from the verified plain source."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._buf = bytearray()

    @property
    def pending(self) -> bool:
        """Whether bytes were read past the last section."""
        return bool(self._buf)

    def _fill(self) -> bool:
        data = self._source.read(BLOCK)
        if not data:
            return False
        self._buf += data
        return True

    def line(self) -> bytes:
        while (i := self._buf.find(b"\n")) < 0:
            if not self._fill():
                raise CorruptBackupError("the PostgreSQL dump stream ends inside a section header")
        out = bytes(self._buf[:i])
        del self._buf[:i + 1]
        return out

    def exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise CorruptBackupError("the PostgreSQL dump stream ends inside a schema section")
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def rows(self) -> Iterator[bytes]:
        """COPY text up to its ``\\.`` line; the buffer always starts at a line start."""
        while True:
            if self._buf.startswith(b"\\.\n"):
                del self._buf[:3]
                return
            end = self._buf.find(b"\n\\.\n")
            if end >= 0:
                yield bytes(self._buf[:end + 1])
                del self._buf[:end + 4]
                return
            if len(self._buf) >= BLOCK and (last := self._buf.rfind(b"\n")) >= 0:
                yield bytes(self._buf[:last + 1])
                del self._buf[:last + 1]
                continue
            if not self._fill():
                raise CorruptBackupError("the PostgreSQL dump stream ends inside a table's rows")


def _restore_large_object(conn: Any, reader: _Reader, rest: bytes) -> None:
    """Recreate one large object with its OID (so the columns referring to it stay right)."""
    try:
        oid_text, size_text = rest.split(b" ")
        oid, size = int(oid_text), int(size_text)
    except ValueError:
        raise CorruptBackupError("a large object's header in the PostgreSQL dump stream is damaged") from None
    with conn.cursor() as cur:
        cur.execute("SELECT pg_catalog.lo_create(%s::oid)", (oid,))
        offset = 0
        while offset < size:
            try:
                piece = base64.b64decode(reader.line(), validate=True)
            except ValueError:
                raise CorruptBackupError(f"large object {oid} in the PostgreSQL dump stream is damaged") from None
            if not piece or offset + len(piece) > size:
                raise CorruptBackupError(f"large object {oid} in the PostgreSQL dump stream has the wrong size")
            cur.execute("SELECT pg_catalog.lo_put(%s::oid, %s, %s)", (oid, offset, piece))
            offset += len(piece)


def restore_ordered(url: DatabaseURL, database: str, source: IO[bytes], *, tool_env: EnvFactory,
                    pg_restore: str, dialect: Any, portable: bool = False,
                    check_roles: Callable[[set[str]], None] | None = None) -> int:
    """Load the chainable dump into the (new, empty) ``database``; return the number of tables.

    Owners and grants are kept unless ``portable``; ``check_roles`` is given
    the roles the schema names before anything is loaded (it raises to refuse).
    """
    reader = _Reader(source)
    if reader.exact(len(MAGIC)) != MAGIC:
        raise CorruptBackupError("not a dbkeeper ordered PostgreSQL dump (bad magic)")
    argv = [pg_restore, "--exit-on-error", *(["--no-owner", "--no-privileges"] if portable else []),
            "--no-password", "--dbname",
            "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"]
    tables = 0
    schema = b""
    with tool_env(url, database) as env:
        conn = dialect.connect(url.with_database(database), autocommit=False)
        try:
            while True:
                head = reader.line()
                kind, _, rest = head.partition(b" ")
                if kind == b"#schema":  # tables, types, functions ... now; indexes, constraints after the rows
                    schema = reader.exact(int(rest))
                    if check_roles is not None:
                        from dbkeeper_postgres._roles import roles_in_schema

                        check_roles(roles_in_schema(pg_restore, env, schema))
                    stream_in([*argv, "--section=pre-data"], env, io.BytesIO(schema), secrets=[url.password])
                elif kind == b"#post":
                    conn.commit()
                    stream_in([*argv, "--section=post-data"], env, io.BytesIO(schema), secrets=[url.password])
                elif kind == b"#table":
                    table = json.loads(rest)
                    cols = ", ".join(_q(c) for c in table["columns"])
                    with conn.cursor() as cur, cur.copy(
                            f"COPY {_q(table['schema'])}.{_q(table['name'])} ({cols}) FROM STDIN") as copy:
                        for block in reader.rows():
                            copy.write(block)
                    tables += 1
                elif kind == b"#lo":
                    _restore_large_object(conn, reader, rest)
                elif kind == b"#sequences":
                    with conn.cursor() as cur:
                        for namespace, name, value in json.loads(rest):
                            cur.execute("SELECT pg_catalog.setval(%s::regclass, %s, true)",
                                        (f"{_q(namespace)}.{_q(name)}", value))
                elif kind == b"#end":
                    break
                else:
                    raise CorruptBackupError(f"unknown section {kind[:20]!r} in the PostgreSQL dump stream")
            conn.commit()
        finally:
            conn.close()
    if reader.pending or source.read(1):
        raise CorruptBackupError("unexpected data after the end of the PostgreSQL dump stream")
    return tables
