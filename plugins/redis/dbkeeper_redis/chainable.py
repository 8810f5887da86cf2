"""The chainable Redis dump: keys in sorted order, one key per line, stable expiry times.

Incremental and differential backups store only the chunks their base
lacks, and the core cuts a chainable stream into content-defined chunks
*after newlines* (:class:`dbkeeper.backup.chunking.LineChunker`). The plain
dump (:mod:`dbkeeper_redis.dump`) cannot be shared that way: ``SCAN`` returns
keys in hash-table order, which changes as the keyspace grows, its binary
records hold newlines anywhere, and its expiry times are computed from
``PTTL`` and the clock, so they move by a millisecond or two from one dump
to the next. This framing (version 2) fixes all three:

* every key name is collected with ``SCAN`` first, de-duplicated and sorted
  bytewise (in memory up to :data:`SORT_RUN_KEYS` names, beyond that by an
  external merge sort through private temporary files, so memory stays
  bounded), then dumped in that order in pipelined batches, like the plain
  dump;
* each record is one line: the tag, the record escaped so that it holds no
  newline (``0x01`` becomes ``0x01 0x02``, ``0x0A`` becomes ``0x01 0x03``;
  both directions are two ``bytes.replace`` calls), then ``\\n``; a chunk
  therefore always ends on a key boundary;
* the expiry is the key's stored absolute time, read with ``PEXPIRETIME``
  (Redis 7.0 and newer). Older servers lack it: there the expiry is the
  server's ``TIME`` plus ``PTTL`` as in the plain dump, and a key with a
  TTL is stored again by every incremental (documented, still correct).

So a key that did not change keeps its bytes, and a chunk changes only when
a key in it was added, changed, deleted or given another TTL. ``DUMP``
payloads are deterministic for an unchanged value; a value whose internal
encoding the server converted (a small hash growing into a hash table)
changes its payload, which is a real change. Consistency is the plain
dump's (see :mod:`dbkeeper_redis.dump`): ``SCAN`` is not a snapshot, and
keys created after the key list was read are not in this backup.

Framing (version 2)::

    stream = magic line(H) line(K)* line(E)
    magic  = "DBKRDS" 0x00 0x02
    line   = tag, escaped body, "\\n"
    H body = JSON header (as version 1, with "chainable": true)
    K body = the version 1 record without its tag: type, key, expire_at_ms, payload
    E body = u64 records, u32 length, JSON trailer
"""

from __future__ import annotations

import contextlib
import heapq
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dbkeeper.backup.tools import private_dir
from dbkeeper_redis.errors import RedisDumpFormatError
from dbkeeper_redis.frames import U32, U64, FrameReader, json_block, read_end, read_record, record_body

if TYPE_CHECKING:
    import redis

MAGIC = b"DBKRDS\x00\x02"
FRAMING_VERSION = 2
#: Key names per ``SCAN`` round trip while the key list is collected.
SCAN_COUNT = 1_000
#: Key names sorted in memory at once (about 40 MB of names); more are merged from sorted run files.
SORT_RUN_KEYS = 500_000



def escape(data: bytes) -> bytes:
    """``data`` without a newline byte, reversibly (see the module documentation)."""
    return data.replace(b"\x01", b"\x01\x02").replace(b"\n", b"\x01\x03")


def unescape(data: bytes) -> bytes:
    """The inverse of :func:`escape`."""
    return data.replace(b"\x01\x03", b"\n").replace(b"\x01\x02", b"\x01")


def _line(tag: bytes, body: bytes) -> bytes:
    return tag + escape(body) + b"\n"


def header_line(header: dict[str, Any]) -> bytes:
    """The magic number and the header line."""
    return MAGIC + _line(b"H", json_block(header))


def record_line(kind: str, key: bytes, expire_at_ms: int, payload: bytes) -> bytes:
    """One key's line."""
    return _line(b"K", record_body(kind, key, expire_at_ms, payload))


def end_line(records: int, trailer: dict[str, Any]) -> bytes:
    """The last line: the record count and the trailer."""
    return _line(b"E", U64.pack(records) + json_block(trailer))


def has_pexpiretime(version: str) -> bool:
    """Whether a server of ``version`` answers ``PEXPIRETIME`` (Redis 7.0 and newer)."""
    try:
        return int(version.split(".", 1)[0]) >= 7
    except ValueError:
        return False


@contextmanager
def sorted_keys(client: redis.Redis, skip: bytes) -> Iterator[Iterator[bytes]]:
    """Every key name of the selected database except ``skip``, once each, in bytewise order.

    Memory stays bounded whatever the keyspace: up to :data:`SORT_RUN_KEYS`
    names are sorted in memory; beyond that each full batch is written, sorted,
    to a run file in a private temporary directory, and the runs are merged
    as the names are read (an external merge sort).
    """
    with private_dir() as tmp:
        runs: list[Path] = []
        batch: set[bytes] = set()
        cursor: Any = 0
        while True:
            cursor, found = client.scan(cursor, count=SCAN_COUNT)
            batch.update(k if isinstance(k, bytes) else k.encode() for k in found)
            if len(batch) >= SORT_RUN_KEYS:
                runs.append(_spill(batch, tmp, len(runs)))
                batch = set()
            if int(cursor) == 0:
                break
        batch.discard(skip)
        if not runs:
            yield iter(sorted(batch))
            return
        if batch:
            runs.append(_spill(batch, tmp, len(runs)))
        with contextlib.ExitStack() as files:
            readers = [_read_run(files.enter_context(open(run, "rb", buffering=1 << 16))) for run in runs]
            yield _unique(key for key in heapq.merge(*readers) if key != skip)


def _spill(keys: set[bytes], directory: Path, number: int) -> Path:
    """Write ``keys`` sorted to a run file (each name: u32 length, bytes)."""
    path = directory / f"run-{number}"
    with open(path, "wb", buffering=1 << 20) as f:
        for key in sorted(keys):
            f.write(U32.pack(len(key)) + key)
    return path


def _read_run(f: IO[bytes]) -> Iterator[bytes]:
    """The names of one run file, in its (sorted) order."""
    while head := f.read(4):
        (length,) = U32.unpack(head)
        yield f.read(length)


def _unique(keys: Iterator[bytes]) -> Iterator[bytes]:
    """Drop repeats in a sorted stream (SCAN may return a name twice, in two runs)."""
    last = None
    for key in keys:
        if key != last:
            yield key
            last = key


class _LineReader:
    """Lines of a version 2 stream, unescaped; truncation and damage are format errors."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source: Any = source if isinstance(source, io.BufferedIOBase) else io.BufferedReader(source)

    def line(self, what: str) -> tuple[bytes, bytes]:
        raw: bytes = self._source.readline()
        if not raw.endswith(b"\n") or len(raw) < 2:
            raise RedisDumpFormatError(f"the Redis dump ends inside {what} (truncated stream)")
        return raw[:1], unescape(raw[1:-1])

    def at_end(self) -> bool:
        return bool(self._source.read(1) == b"")


def _body(data: bytes) -> FrameReader:
    """Exact reads from one unescaped line's body, with the plain framing's reader."""
    return FrameReader(io.BytesIO(data))


def _finished(body: FrameReader, what: str) -> None:
    if not body.at_end():
        raise RedisDumpFormatError(f"the Redis dump's {what} has trailing bytes")


def read_lines(source: IO[bytes]) -> tuple[dict[str, Any], Iterator[tuple[str, bytes, int, bytes]], dict[str, Any]]:
    """Parse a version 2 stream whose magic number was already read: ``(header, records, trailer)``."""
    lines = _LineReader(source)
    tag, data = lines.line("the header")
    if tag != b"H":
        raise RedisDumpFormatError(f"the Redis dump starts with record tag {tag!r}, not a header")
    body = _body(data)
    header = body.json("header")
    _finished(body, "header")
    trailer: dict[str, Any] = {}

    def records() -> Iterator[tuple[str, bytes, int, bytes]]:
        count = 0
        while True:
            tag, data = lines.line("a record")
            body = _body(data)
            if tag == b"E":
                read_end(body, count, trailer)
                _finished(body, "end record")
                if not lines.at_end():
                    raise RedisDumpFormatError("data follows the end record of the Redis dump")
                trailer["records"] = count
                return
            if tag != b"K":
                raise RedisDumpFormatError(f"unknown record tag {tag!r} in the Redis dump")
            record = read_record(body)
            _finished(body, "record")
            count += 1
            yield record

    return header, records(), trailer
