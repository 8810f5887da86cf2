"""Dump and restore a Redis database for ``dbkeeper.backup``: per-key ``DUMP``/``RESTORE``.

The dump walks the keyspace with ``SCAN`` and, per batch of keys (at most
500, fewer when values are large so that a batch holds about 8 MiB), sends
one pipeline of ``TIME`` plus ``TYPE``, ``PTTL`` and ``DUMP`` for each key;
each key becomes one record in the stream below, written to the sink batch
by batch (memory holds one batch, never the database). The core's pipeline
then chunks, compresses, encrypts and checksums it like any SQL dump.

Stream framing (version 1; integers big-endian)::

    stream  = magic header record* end
    magic   = "DBKRDS" 0x00 0x01                       8 bytes: name, NUL, framing version
    header  = u32 length, JSON (UTF-8)                 format, server version, source db, started_at_ms
    record  = "K"                                      one key
              u8 length, type (ASCII)                  string, list, set, zset, hash, stream, or a module type
              u32 length, key (raw bytes)
              i64 expire_at_ms                         absolute Unix time in ms on the source's clock; -1: none
              u32 length, payload                      the DUMP reply: RDB-serialised value, RDB version, CRC64
    end     = "E" u64 records, u32 length, JSON        counts per type, keys skipped

Chainable dumps (``options["chainable"]``: every incremental and
differential backup, and a full one that should be their base) use framing
version 2 instead, with keys in sorted order, one key per line and stable
expiry times, so that unchanged keys keep their bytes from one backup to the
next; see :mod:`dbkeeper_redis.chainable`. :func:`read_dump` reads both.

Consistency. ``SCAN`` is not a snapshot: a key changed while the dump runs
may be seen in its old or its new state; a key created during the dump may
or may not be included; a key deleted after SCAN returned it is skipped
(``DUMP`` answers nil, ``PTTL`` -2) and counted as ``skipped_deleted``; a
key SCAN returns twice (possible while the server rehashes) is written
twice, and restore keeps the later copy. Within one key, ``TYPE``, ``PTTL``
and ``DUMP`` run back to back but not atomically, so a key rewritten in
between may pair its old value with its new TTL. For a point-in-time copy,
stop writers, or back up a replica whose replication you pause, or use
``BGSAVE`` and copy the RDB file. TTLs are stored as absolute expiry times,
so a restored key expires when the original would have; a key whose expiry
has passed by the time it is restored is not created (counted as
``expired``).

Restore refuses a target database holding keys unless ``replace=True``;
then that numbered database's content is replaced and nothing else on the
server is touched. Keys go in with pipelined ``RESTORE key ttl payload
ABSTTL REPLACE`` (Redis 5.0 or newer) in batches, all-or-nothing where the
server allows it: the keys are loaded into an empty *staging* database
(claimed like a scratch database, see :mod:`dbkeeper_redis.scratch`), and
only when every key is in, one Lua script swaps it with the target
(``SWAPDB``) and flushes the old content (``FLUSHDB ASYNC``). A server that
rejects a payload (older RDB version than the dump's, unknown module type,
out of memory) stops the restore with the first error, the staging database
is flushed and the target was never touched. Where no empty database is free
or the user may not ``SWAPDB`` (Redis Cluster, restrictive ACLs), the
restore loads in place (after ``FLUSHDB`` of the target when replacing) and
says so in its warnings; a refusal then leaves the keys loaded so far.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from dbkeeper.backup.errors import RestoreTargetError
from dbkeeper_redis._client import dedicated
from dbkeeper_redis.errors import RedisDumpError, RedisDumpFormatError
from dbkeeper_redis.frames import (
    U64,
    FrameReader,
    encode_record,
    json_block,
    read_end,
    read_record,
)
from dbkeeper_redis.scratch import FLUSH_KEEPING_CLAIM, MARKER_KEY

if TYPE_CHECKING:
    import redis

    from dbkeeper.contract.session import Session

MAGIC = b"DBKRDS\x00\x01"
FORMAT = "dbkeeper-redis-dump"
FORMAT_VERSION = 1
#: Keys per SCAN round trip, and the most keys per dump pipeline.
DUMP_BATCH = 500
#: Payload bytes one dump pipeline aims at: batches shrink when keys are big, so memory stays bounded
#: (about this much plus the largest single value).
DUMP_BATCH_BYTES = 8 << 20
#: Restore pipelines are sent after this many keys or this many payload bytes, whichever comes first.
RESTORE_BATCH_KEYS = 500
RESTORE_BATCH_BYTES = 8 << 20

def _server_version(client: redis.Redis) -> str:
    info: Any = client.info("server")
    return str(info.get("redis_version", "unknown"))


def dump(connection: Session, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Stream every key of the connected database into ``sink``; return the manifest's ``dump`` metadata."""
    import redis as redis_module

    include_data = bool(options.get("include_data", True))
    if options.get("chainable"):
        return _dump_chainable(connection, sink, include_data)
    with dedicated(connection, what="the dump") as raw:
        client = raw.client
        version = _server_version(client)
        started: Any = client.time()
        sink.write(MAGIC + json_block({"format": FORMAT, "version": FORMAT_VERSION, "server_version": version,
                                  "db": raw.db, "started_at_ms": int(started[0]) * 1000 + int(started[1]) // 1000}))
        keys = _scanned_keys(client) if include_data else iter(())
        records, skipped, types = dump_keys(client, sink, keys, encode=encode_record, absolute_expiry=False)
        trailer = {"types": dict(sorted(types.items())), "skipped_deleted": skipped}
        sink.write(b"E" + U64.pack(records) + json_block(trailer))
    return {"tool": "redis-py (SCAN + DUMP)", "tool_version": redis_module.__version__, "server_version": version,
            "format": f"{FORMAT}/{FORMAT_VERSION}", "content": "full" if include_data else "schema",
            "db": raw.db, "keys": records, "types": dict(sorted(types.items())), "skipped_deleted": skipped,
            "chainable": False, "consistency": "scan: not a point-in-time snapshot (see dbkeeper_redis.dump)"}


def _scanned_keys(client: redis.Redis) -> Iterator[bytes]:
    """Key names as ``SCAN`` returns them (a name may come twice while the server rehashes), page by page."""
    cursor: Any = 0
    while True:
        cursor, found = client.scan(cursor, count=DUMP_BATCH)
        yield from (k if isinstance(k, bytes) else k.encode() for k in found if k != MARKER_KEY)
        if int(cursor) == 0:
            return


def dump_keys(client: redis.Redis, sink: IO[bytes], keys: Iterator[bytes], *,
              encode: Callable[[str, bytes, int, bytes], bytes],
              absolute_expiry: bool) -> tuple[int, int, Counter[str]]:
    """Write one record per key of ``keys``, in order, framed by ``encode``: ``(records, skipped_deleted, types)``.

    Batches of keys go in one pipeline of ``TIME`` plus ``TYPE``, the expiry
    (``PEXPIRETIME`` when ``absolute_expiry``, else ``PTTL`` added to the
    server's ``TIME``) and ``DUMP`` per key; batches shrink when values are
    large, so memory holds about :data:`DUMP_BATCH_BYTES` of values.
    """
    import redis as redis_module

    types: Counter[str] = Counter()
    records = skipped = 0
    per_batch = DUMP_BATCH
    expiry_command = "PEXPIRETIME" if absolute_expiry else "PTTL"
    while batch := list(itertools.islice(keys, per_batch)):
        pipe = client.pipeline(transaction=False)
        pipe.time()
        for key in batch:
            pipe.type(key)
            pipe.execute_command(expiry_command, key)  # type: ignore[no-untyped-call]
            pipe.dump(key)
        replies = pipe.execute(raise_on_error=False)
        failure = next((r for r in replies if isinstance(r, Exception)), None)
        if isinstance(failure, redis_module.ConnectionError | redis_module.TimeoutError):
            raise failure
        if failure is not None:
            raise RedisDumpError(f"the server refused a command the dump needs (TYPE, {expiry_command}, DUMP): "
                                 f"{failure}; check the user's ACL (it needs +scan +type "
                                 f"+{expiry_command.lower()} +dump +time)")
        now_ms = int(replies[0][0]) * 1000 + int(replies[0][1]) // 1000
        out = bytearray()
        for i, key in enumerate(batch):
            kind, expiry, payload = replies[1 + 3 * i:4 + 3 * i]
            if payload is None or expiry == -2 or kind == b"none":
                skipped += 1
                continue
            if expiry < 0:
                expire_at = -1
            elif absolute_expiry:
                expire_at = int(expiry)
            else:
                expire_at = now_ms + int(expiry)
            kind_text = kind.decode() if isinstance(kind, bytes) else str(kind)
            out += encode(kind_text, key, expire_at, payload)
            types[kind_text] += 1
            records += 1
        sink.write(bytes(out))
        average = max(1, len(out) // max(1, len(batch)))
        per_batch = max(1, min(DUMP_BATCH, DUMP_BATCH_BYTES // average))
    return records, skipped, types


def _dump_chainable(connection: Session, sink: IO[bytes], include_data: bool) -> dict[str, Any]:
    """The key-sorted, line-framed dump incremental backups share chunks with (:mod:`dbkeeper_redis.chainable`)."""
    import redis as redis_module

    from dbkeeper_redis import chainable

    with dedicated(connection, what="the dump") as raw:
        client = raw.client
        version = _server_version(client)
        absolute = chainable.has_pexpiretime(version)
        started: Any = client.time()
        sink.write(chainable.header_line({
            "format": FORMAT, "version": chainable.FRAMING_VERSION, "server_version": version, "db": raw.db,
            "chainable": True, "started_at_ms": int(started[0]) * 1000 + int(started[1]) // 1000}))
        with contextlib.ExitStack() as stack:
            keys = stack.enter_context(chainable.sorted_keys(client, MARKER_KEY)) if include_data else iter(())
            records, skipped, types = dump_keys(client, sink, keys, encode=chainable.record_line,
                                                absolute_expiry=absolute)
        sink.write(chainable.end_line(records, {"types": dict(sorted(types.items())), "skipped_deleted": skipped}))
    return {"tool": "redis-py (SCAN, sorted, + DUMP)", "tool_version": redis_module.__version__,
            "server_version": version, "format": f"{FORMAT}/{chainable.FRAMING_VERSION}",
            "content": "full" if include_data else "schema", "db": raw.db, "keys": records,
            "types": dict(sorted(types.items())), "skipped_deleted": skipped, "chainable": True, "ordered": True,
            "expiry": "PEXPIRETIME" if absolute else "TIME + PTTL",
            "consistency": "scan: not a point-in-time snapshot (see dbkeeper_redis.dump)"}


# -- reading -------------------------------------------------------------------------------------
def read_dump(source: IO[bytes]) -> tuple[dict[str, Any], Iterator[tuple[str, bytes, int, bytes]], dict[str, Any]]:
    """Parse the framing: ``(header, records, trailer)``; ``trailer`` is filled once ``records`` is exhausted.

    Reads both framings: version 1 (above) and the chainable version 2
    (:mod:`dbkeeper_redis.chainable`).

    ``records`` yields ``(type, key, expire_at_ms, payload)``. Every framing
    error (bad magic, unknown tag, truncation, record count mismatch, data
    after the end) raises :class:`RedisDumpFormatError`.
    """
    from dbkeeper_redis import chainable

    reader = FrameReader(source)
    magic = reader.exact(len(MAGIC), "the magic number")
    if magic[:6] != MAGIC[:6]:
        raise RedisDumpFormatError("not a dbkeeper Redis dump (bad magic number)")
    if magic == chainable.MAGIC:
        return chainable.read_lines(reader.stream)
    if magic != MAGIC:
        raise RedisDumpFormatError(f"Redis dump framing version {magic[7]} is newer than this plugin reads "
                                   f"({chainable.FRAMING_VERSION}); upgrade dbkeeper-redis")
    header = reader.json("header")
    trailer: dict[str, Any] = {}

    def records() -> Iterator[tuple[str, bytes, int, bytes]]:
        count = 0
        while True:
            tag = reader.exact(1, "a record tag")
            if tag == b"E":
                read_end(reader, count, trailer)
                if not reader.at_end():
                    raise RedisDumpFormatError("data follows the end record of the Redis dump")
                trailer["records"] = count
                return
            if tag != b"K":
                raise RedisDumpFormatError(f"unknown record tag {tag!r} in the Redis dump")
            record = read_record(reader)
            count += 1
            yield record

    return header, records(), trailer


# -- restoring -----------------------------------------------------------------------------------
def _key_count(client: redis.Redis) -> int:
    total: Any = client.dbsize()
    marker: Any = client.exists(MARKER_KEY)
    return int(total) - int(marker)


#: Run on a connection selected to the target: give the staging database the target's claim marker (or
#: none), swap the two, and flush what the target held before (now in the staging database). Atomic.
_SWAP_IN = """
local claim = redis.call('GET', KEYS[1])
redis.call('SELECT', ARGV[2])
if claim then redis.call('SET', KEYS[1], claim) else redis.call('DEL', KEYS[1]) end
redis.call('SWAPDB', ARGV[1], ARGV[2])
redis.call('SELECT', ARGV[2])
redis.call('FLUSHDB', 'ASYNC')
return 1
"""


def restore(connection: Session, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Load a dump into the connected database; see the module documentation for the rules."""
    import redis as redis_module

    from dbkeeper_redis import scratch

    replace = bool(options.get("replace", False))
    warnings: list[str] = []
    with dedicated(connection, what="the restore") as raw:
        client = raw.client
        existing = _key_count(client)
        if existing and not replace:
            raise RestoreTargetError(f"restore target redis database {raw.db} holds {existing} keys; pass "
                                     "replace=True (--replace) to flush that database first, or restore into an "
                                     "empty one")
        header, records, trailer = read_dump(source)
        if header.get("format") != FORMAT:
            raise RedisDumpFormatError(f"the stream is a {header.get('format')!r} dump, not {FORMAT!r}")
        helper = raw.private_client(0)
        try:
            staging, why_not = _claim_staging(helper, raw.db)
            if staging is None:
                warnings.append(f"restored in place, not all-or-nothing: {why_not}")
                if replace and existing:
                    client.eval(FLUSH_KEEPING_CLAIM, 1, MARKER_KEY)
                restored, expired, types = _load(client, records, f"the keys loaded so far stay in database "
                                                 f"{raw.db}: flush it before retrying")
            else:
                number, name = staging
                loader = raw.private_client(number)  # its own client: redis-py pipelines ignore a manual SELECT
                try:
                    restored, expired, types = _load(loader, records, f"the target database {raw.db} was not "
                                                     "touched")
                    helper.execute_command("SELECT", raw.db)  # type: ignore[no-untyped-call]
                    helper.eval(_SWAP_IN, 1, MARKER_KEY, raw.db, number)
                except BaseException:
                    try:
                        scratch.release(helper, name)
                    except redis_module.RedisError:
                        warnings.append(f"could not flush staging database {number}")
                    raise
                finally:
                    loader.close()
                scratch.forget(helper, name)
        finally:
            helper.close()
        db = raw.db
    if expired:
        warnings.append(f"{expired} key(s) had expired before they could be restored")
    return {"target": f"redis database {db}", "keys": restored, "expired": expired,
            "records": trailer.get("records", 0), "types": dict(sorted(types.items())),
            "swapped": staging is not None, "source_server_version": header.get("server_version"),
            "warnings": warnings}


def _claim_staging(helper: redis.Redis, target: int) -> tuple[tuple[int, str] | None, str]:
    """Claim an empty database to restore into before swapping it in; ``(None, reason)`` when impossible.

    Needs a free numbered database and the right to ``EVAL``, ``SELECT`` and
    ``SWAPDB`` (checked with a harmless ``SWAPDB n n``); Redis Cluster and
    restrictive ACLs have neither, and the restore then loads in place.
    """
    import redis as redis_module

    from dbkeeper_redis import scratch
    from dbkeeper_redis.errors import NoFreeDatabaseError

    name = f"dbk_restore_{secrets.token_hex(6)}"
    try:
        number = scratch.claim(helper, name, exclude=target)
    except NoFreeDatabaseError as exc:
        return None, str(exc)
    except redis_module.ResponseError as exc:
        return None, f"the server refused claiming a staging database ({exc})"
    try:
        helper.execute_command("SWAPDB", number, number)  # type: ignore[no-untyped-call]
    except redis_module.ResponseError as exc:
        scratch.release(helper, name)
        return None, f"the server refused SWAPDB ({exc})"
    return (number, name), ""


def _load(client: redis.Redis, records: Iterator[tuple[str, bytes, int, bytes]],
          aftermath: str) -> tuple[int, int, Counter[str]]:
    """RESTORE every record into ``client``'s current database in pipelined batches: (restored, expired, types).

    ``aftermath`` tells the user, in a refusal's message, what state the target is left in.
    """
    restored = expired = 0
    types: Counter[str] = Counter()
    batch: list[tuple[str, bytes, int, bytes]] = []
    size = 0
    for record in records:
        batch.append(record)
        size += len(record[3])
        if len(batch) >= RESTORE_BATCH_KEYS or size >= RESTORE_BATCH_BYTES:
            done, gone = _restore_batch(client, batch, aftermath)
            restored, expired = restored + done, expired + gone
            types.update(r[0] for r in batch)
            batch, size = [], 0
    if batch:
        done, gone = _restore_batch(client, batch, aftermath)
        restored, expired = restored + done, expired + gone
        types.update(r[0] for r in batch)
    return restored, expired, types


def _restore_batch(client: redis.Redis, batch: list[tuple[str, bytes, int, bytes]], aftermath: str) -> tuple[int, int]:
    """Send one pipeline of ``RESTORE ... ABSTTL REPLACE``; return (restored, already expired)."""
    import redis as redis_module

    pipe = client.pipeline(transaction=False)
    pipe.time()
    for _kind, key, expire_at, payload in batch:
        pipe.restore(key, max(expire_at, 0), payload, replace=True, absttl=True)
    replies = pipe.execute(raise_on_error=False)
    now_ms = int(replies[0][0]) * 1000 + int(replies[0][1]) // 1000
    for reply, (_kind, key, _expire, _payload) in zip(replies[1:], batch, strict=True):
        if isinstance(reply, redis_module.ConnectionError | redis_module.TimeoutError):
            raise reply
        if isinstance(reply, Exception):
            shown = key.decode(errors="backslashreplace")[:100]
            raise RedisDumpError(f"the server refused to RESTORE key {shown!r}: {reply}; {aftermath}. A payload "
                                 "version error means the target Redis is older than the source")
    expired = sum(1 for _kind, _key, expire_at, _payload in batch if 0 <= expire_at <= now_ms)
    return len(batch) - expired, expired
