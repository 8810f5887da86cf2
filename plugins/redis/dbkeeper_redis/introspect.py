"""Introspection of a keyspace: key patterns stand in for tables.

Redis has no schema, but applications name keys in namespaces
(``user:42:profile``, ``session:9f2c...``). dbkeeper treats each *key
pattern* as a table: a key's pattern replaces the segments (split on ``:``)
that look like ids (numbers, long hex, UUIDs) with ``*``, so ``user:42`` and
``user:7`` are both ``user:*``.

* ``dbkeeper tables`` lists the patterns found in a SCAN sample of at most
  :data:`SAMPLE_LIMIT` keys (sorted);
* ``dbkeeper describe PATTERN`` (any glob; ``*`` is the whole database)
  reports one "column" per Redis type with its key count and memory, plus,
  under ``extra`` (``--json``), TTL statistics, sample keys and, for ``*``,
  the most common patterns. Its "row count" is the exact number of keys
  matching the glob (``DBSIZE`` for ``*``, else a full SCAN).

Everything is read with SCAN (never ``KEYS``), pipelined ``TYPE``/``PTTL``/
``MEMORY USAGE`` per batch, on a private connection: the server is never
blocked for more than one batch. ``MEMORY USAGE`` denied by an ACL leaves
memory ``None`` with the reason, never zero.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbkeeper.contract.introspection import ColumnInfo, TableInfo
from dbkeeper.errors import QueryError
from dbkeeper_redis._client import dedicated
from dbkeeper_redis.scratch import MARKER_KEY

if TYPE_CHECKING:
    import redis

    from dbkeeper.contract.session import Session

#: Keys looked at per introspection pass; beyond it results say ``complete: False``.
SAMPLE_LIMIT = 10_000
#: SCAN's COUNT hint: keys per round trip.
SCAN_COUNT = 1_000
#: Sample keys shown per pattern.
SHOWN_KEYS = 5

_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{12,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True, slots=True)
class KeySample:
    """One key seen by a sampling pass."""

    key: bytes
    type: str
    ttl_ms: int  # -1: no expiry
    memory: int | None


def pattern_of(key: bytes) -> str:
    """The pattern a key belongs to: id-like ``:``-separated segments become ``*``, the rest is escaped."""
    text = key.decode(errors="backslashreplace")
    return ":".join("*" if _ID_SEGMENT.match(part) else _GLOB_SPECIAL.sub(r"\\\1", part)
                    for part in text.split(":"))


def sample(client: redis.Redis, match: str | None = None, limit: int = SAMPLE_LIMIT) -> tuple[list[KeySample], bool]:
    """Up to ``limit`` keys matching ``match`` with type, TTL and memory; ``complete`` is False when cut short."""
    out: list[KeySample] = []
    cursor: Any = 0
    while True:
        cursor, found = client.scan(cursor, match=match, count=SCAN_COUNT)
        keys = [k if isinstance(k, bytes) else k.encode() for k in found]
        keys = [k for k in keys if k != MARKER_KEY][: limit - len(out)]
        if keys:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.type(key)
                pipe.pttl(key)
                pipe.memory_usage(key)
            replies = pipe.execute(raise_on_error=False)
            for i, key in enumerate(keys):
                kind, ttl, memory = replies[3 * i:3 * i + 3]
                if isinstance(kind, Exception):
                    raise kind
                kind_text = kind.decode() if isinstance(kind, bytes) else str(kind)
                if kind_text == "none" or ttl == -2:  # deleted since SCAN returned it
                    continue
                out.append(KeySample(key, kind_text, int(ttl) if isinstance(ttl, int) else -1,
                                     int(memory) if isinstance(memory, int) else None))
        if int(cursor) == 0:
            return out, True
        if len(out) >= limit:
            return out, False


def key_patterns(connection: Session) -> list[str]:
    """The sorted key patterns of a sample of the database's keys."""
    with dedicated(connection, what="listing key patterns") as raw:
        keys, _ = sample(raw.client)
    return sorted({pattern_of(k.key) for k in keys})


def describe_patterns(connection: Session, patterns: Sequence[str] | None) -> list[TableInfo]:
    """One :class:`TableInfo` per pattern (every sampled pattern when ``None``), in the order asked for."""
    with dedicated(connection, what="describing keys") as raw:
        if patterns is None:
            keys, complete = sample(raw.client)
            groups: dict[str, list[KeySample]] = defaultdict(list)
            for key in keys:
                groups[pattern_of(key.key)].append(key)
            return [_table(name, groups[name], complete, raw.db) for name in sorted(groups)]
        tables = []
        for name in patterns:
            keys, complete = sample(raw.client, None if name == "*" else name)
            if not keys:
                raise QueryError(f"no such table {name!r}: no key in redis database {raw.db} matches this pattern "
                                 "(`dbkeeper tables` lists the key patterns)")
            info = _table(name, keys, complete, raw.db)
            if name == "*":
                info.extra["patterns"] = dict(Counter(pattern_of(k.key) for k in keys).most_common(20))
                memory: Any = raw.client.info("memory")
                info.extra["server_used_memory_bytes"] = memory.get("used_memory")
            tables.append(info)
        return tables


def _size(n: int | None) -> str:
    """Bytes for people: ``812 B``, ``3.1 KiB``."""
    if n is None:
        return "memory unknown"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # pragma: no cover


def _keys(n: int) -> str:
    return f"{n} key" if n == 1 else f"{n} keys"


def _sum(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _table(name: str, keys: list[KeySample], complete: bool, db: int) -> TableInfo:
    by_type: dict[str, list[KeySample]] = defaultdict(list)
    for key in keys:
        by_type[key.type].append(key)
    columns = tuple(
        ColumnInfo(name=kind, type=f"{_keys(len(group))}, {_size(_sum([k.memory for k in group]))}", nullable=False,
                   comment=f"e.g. {group[0].key.decode(errors='backslashreplace')}")
        for kind, group in sorted(by_type.items()))
    ttls = [k.ttl_ms for k in keys if k.ttl_ms >= 0]
    memory = _sum([k.memory for k in keys])
    extra: dict[str, Any] = {
        "kind": "redis key pattern",
        "database": db,
        "keys_sampled": len(keys),
        "complete": complete,
        "sample_limit": SAMPLE_LIMIT,
        "types": {kind: len(group) for kind, group in sorted(by_type.items())},
        "memory_bytes": memory,
        "memory_by_type": {kind: _sum([k.memory for k in group]) for kind, group in sorted(by_type.items())},
        "keys_with_ttl": len(ttls),
        "min_ttl_seconds": round(min(ttls) / 1000, 3) if ttls else None,
        "max_ttl_seconds": round(max(ttls) / 1000, 3) if ttls else None,
        "sample_keys": [k.key.decode(errors="backslashreplace") for k in keys[:SHOWN_KEYS]],
    }
    if memory is None:
        extra["unavailable"] = {"memory_bytes": "MEMORY USAGE was refused (ACL or renamed command)"}
    return TableInfo(name=name, columns=columns, comment="redis key pattern", extra=extra)
