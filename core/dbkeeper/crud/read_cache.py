"""An opt-in read cache for ``select``/``get`` and explicitly marked queries.

Off by default. Turn it on per manager (``DatabaseManager(url,
cache=QueryCache(max_entries=1000, ttl=30))`` or
``manager.enable_cache(...)``) or per connection
(``DatabaseConnection.from_url(url, query_cache=QueryCache())``).

Bounded twice: at most ``max_entries`` results (least recently used ones are
evicted), each for at most ``ttl`` seconds; results longer than ``max_rows``
rows are not kept.

What invalidates an entry (see ``docs/crud.md`` for the full table):

* every statement run through the connection the cache is attached to
  (CRUD helpers, ``execute``, ``execute_many``, ``bulk_insert``) that is not
  a plain read drops the entries of the tables it writes, or of the whole
  database when its targets are unclear (:mod:`dbkeeper.sql.write_targets`);
* a transaction's writes are dropped again when it ends, because a reader on
  another connection may have cached the pre-commit rows in between;
* a read of table ``t`` is tagged with ``t`` and every table ``t``
  references through foreign keys, so cascades are seen;
* a read that raced with a write is not stored (each tag has a generation
  counter, checked when the result arrives).

Not seen: writes by other processes or by connections the cache is not
attached to, and writes made by triggers or by functions called from a
``SELECT``. The TTL bounds how stale such a read can get; use
``scope="database"`` to drop everything on any write when triggers matter.

Reads inside a transaction never use the cache (they must see the
transaction's own uncommitted writes and must not publish them).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from dbkeeper.errors import ConfigurationError, DbKeeperError
from dbkeeper.result import QueryResult
from dbkeeper.sql.write_targets import EVERYTHING, Everything, WriteTargets, write_targets

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.introspection import TableInfo
    from dbkeeper.urls import DatabaseURL

__all__ = ["ANY_TABLE", "QueryCache", "cached_execute", "freeze_params", "in_transaction", "namespace", "CrudSession"]

#: Tag of entries that depend on every table (raw queries marked for caching without ``cache_tables``).
ANY_TABLE: Final = "\x00any-table"
_PENDING_KEY = "dbkeeper_cache_pending"

Namespace = tuple[str, str | None, int | None, str | None]


class CrudSession(Protocol):
    """What the CRUD tier needs of a connection (the read cache, the helpers, table metadata).

    :class:`dbkeeper.engine.connection.DatabaseConnection` is the one shipped.
    A protocol rather than an import of the engine, which imports this tier:
    CRUD sits below the engine with no import circle. The underscored members
    are the per-connection state the CRUD tier keeps on the connection (the
    thread's transaction stack, the cache namespace, the helpers' compiled
    statements) so that a hit costs attribute reads, not a dict lookup keyed by
    connection.
    """

    query_cache: QueryCache | None
    _local: threading.local
    _cache_namespace: Namespace | None
    _crud_state: Any

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> DatabaseURL: ...

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, query: str, params: Any = None) -> QueryResult: ...

    def get_tables(self) -> list[str]: ...

    def introspect(self, tables: Sequence[str] | None = None) -> list[TableInfo]: ...


def namespace(connection: CrudSession) -> Namespace:
    """Which database a connection's entries belong to: dialect, host, port, database.

    Connections to the same database that share one cache invalidate each
    other's entries; connections to different databases never do. A
    connection's URL and dialect never change, so it is computed once (every
    cache hit needs it).
    """
    ns = connection._cache_namespace
    if ns is None:
        url = connection.url
        ns = connection._cache_namespace = (connection.dialect.name, url.host, url.port, url.database)
    return ns


def in_transaction(connection: CrudSession) -> bool:
    """True while the calling thread has a transaction open on ``connection``."""
    return bool(connection._local.__dict__.get("stack"))


class _Entry:
    __slots__ = ("columns", "expires", "rows", "tags")

    def __init__(self, rows: tuple[dict[str, Any], ...], columns: list[str], expires: float,
                 tags: frozenset[str]) -> None:
        self.rows = rows
        self.columns = columns
        self.expires = expires
        self.tags = tags


class QueryCache:
    """A thread-safe LRU + TTL cache of query results with per-table invalidation.

    ``max_entries`` bounds the number of results kept, ``ttl`` (seconds)
    how long each is served, ``max_rows`` the size of a result worth
    keeping. ``scope="table"`` (default) drops the entries of the tables a
    write names; ``scope="database"`` drops every entry of the database on
    any write. One instance may serve several connections (the manager
    shares its cache among its connections).
    """

    def __init__(self, max_entries: int = 1024, ttl: float = 60.0, *, max_rows: int = 10_000,
                 scope: str = "table") -> None:
        if not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigurationError(f"QueryCache: max_entries must be a positive integer, got {max_entries!r}")
        if not isinstance(ttl, int | float) or ttl <= 0:
            raise ConfigurationError(f"QueryCache: ttl must be a positive number of seconds, got {ttl!r}")
        if not isinstance(max_rows, int) or max_rows < 0:
            raise ConfigurationError(f"QueryCache: max_rows must be a non-negative integer, got {max_rows!r}")
        if scope not in ("table", "database"):
            raise ConfigurationError(f"QueryCache: scope must be 'table' or 'database', got {scope!r}")
        self.max_entries = max_entries
        self.ttl = float(ttl)
        self.max_rows = max_rows
        self.scope = scope
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._index: dict[tuple[Namespace, str], set[Hashable]] = {}
        self._generations: dict[tuple[Namespace, str], int] = {}
        self._namespace_generations: dict[Namespace, int] = {}
        self._clock: Callable[[], float] = time.monotonic
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.stale = 0
        self.uncacheable = 0
        self.invalidations = 0
        self.evictions = 0
        self.expirations = 0

    # -- reading -----------------------------------------------------------------------------
    def fetch(self, connection: CrudSession, key: Hashable, tags: frozenset[str],
              run: Callable[[], QueryResult]) -> QueryResult:
        """The cached result for ``key``, or ``run()``'s result, stored under ``tags`` unless a write raced it.

        Returned rows are copies: callers may change them freely.
        """
        ns = namespace(connection)
        full_key = (ns, key)
        try:
            hit = self._lookup(full_key)
        except TypeError:  # an unhashable parameter value (a list or dict bound as JSON...)
            with self._lock:
                self.uncacheable += 1
            return run()
        if hit is not None:
            return QueryResult([dict(row) for row in hit.rows], list(hit.columns), -1, None, 0.0)
        token = self._token(ns, tags)
        result = run()
        if len(result.rows) <= self.max_rows:
            self._store(ns, full_key, result, tags, token)
        return result

    def peek_rows(self, connection: CrudSession, key: Hashable) -> list[dict[str, Any]] | None:
        """Copies of the rows cached under ``key`` (a hit), else ``None`` without counting a miss.

        The hit path of ``get()``: no ``QueryResult``, no dependency tags.
        On ``None`` the caller goes through :meth:`fetch`, which counts the
        miss (or finds an entry stored meanwhile).
        """
        try:
            entry = self._lookup((namespace(connection), key), count_miss=False)
        except TypeError:  # an unhashable parameter value: fetch() counts it as uncacheable
            return None
        return None if entry is None else [dict(row) for row in entry.rows]

    def _lookup(self, full_key: Hashable, *, count_miss: bool = True) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(full_key)
            if entry is None:
                self.misses += count_miss
                return None
            if entry.expires <= self._clock():
                self._drop(full_key, entry)
                self.expirations += 1
                self.misses += count_miss
                return None
            self._entries.move_to_end(full_key)
            self.hits += 1
            return entry

    def _token(self, ns: Namespace, tags: frozenset[str]) -> tuple[int, ...]:
        with self._lock:
            gens = self._generations
            return (self._namespace_generations.get(ns, 0), *(gens.get((ns, tag), 0) for tag in tags))

    def _store(self, ns: Namespace, full_key: Hashable, result: QueryResult, tags: frozenset[str],
               token: tuple[int, ...]) -> None:
        rows = tuple(dict(row) for row in result.rows)
        with self._lock:
            gens = self._generations
            now = (self._namespace_generations.get(ns, 0), *(gens.get((ns, tag), 0) for tag in tags))
            if now != token:
                self.stale += 1
                return
            old = self._entries.pop(full_key, None)
            if old is not None:
                self._unindex(full_key, old)
            self._entries[full_key] = _Entry(rows, list(result.columns), self._clock() + self.ttl, tags)
            for tag in tags:
                self._index.setdefault((ns, tag), set()).add(full_key)
            self.stores += 1
            while len(self._entries) > self.max_entries:
                oldest_key, oldest = next(iter(self._entries.items()))
                self._drop(oldest_key, oldest)
                self.evictions += 1

    # -- invalidation ------------------------------------------------------------------------------
    def invalidate(self, connection: CrudSession, tables: WriteTargets) -> None:
        """Drop entries that a write to ``tables`` (case-folded names, or EVERYTHING) may have made stale."""
        if tables is None:
            return
        self._invalidate(namespace(connection), tables)

    def _invalidate(self, ns: Namespace, tables: frozenset[str] | Everything) -> None:
        with self._lock:
            self.invalidations += 1
            if isinstance(tables, Everything) or self.scope == "database":
                self._namespace_generations[ns] = self._namespace_generations.get(ns, 0) + 1
                for full_key, entry in list(self._entries.items()):
                    if full_key[0] == ns:  # type: ignore[index]
                        self._drop(full_key, entry)
                return
            for tag in (*tables, ANY_TABLE):
                slot = (ns, tag)
                self._generations[slot] = self._generations.get(slot, 0) + 1
                for full_key in list(self._index.get(slot, ())):
                    tagged = self._entries.get(full_key)
                    if tagged is not None:
                        self._drop(full_key, tagged)

    def clear(self) -> None:
        """Forget every entry (counters are kept)."""
        with self._lock:
            for ns in {key[0] for key in self._entries}:  # type: ignore[index]
                self._namespace_generations[ns] = self._namespace_generations.get(ns, 0) + 1
            self._entries.clear()
            self._index.clear()

    def _drop(self, full_key: Hashable, entry: _Entry) -> None:
        self._entries.pop(full_key, None)
        self._unindex(full_key, entry)

    def _unindex(self, full_key: Hashable, entry: _Entry) -> None:
        ns = full_key[0]  # type: ignore[index]
        for tag in entry.tags:
            keys = self._index.get((ns, tag))
            if keys is not None:
                keys.discard(full_key)
                if not keys:
                    del self._index[(ns, tag)]

    # -- hooks called by the connection -----------------------------------------------------------------
    def after_statement(self, connection: CrudSession, sql: str) -> None:
        """Called after every statement on ``connection``: forget what it may have changed."""
        targets = write_targets(sql)
        if targets is not None:
            self._after_write(connection, targets)

    def after_table_write(self, connection: CrudSession, table: str | Sequence[str]) -> None:
        """Called after a bulk insert into ``table`` (a name or a ``(schema, table)`` pair)."""
        name = table if isinstance(table, str) else table[-1]
        self._after_write(connection, frozenset({name.casefold()}))

    def _after_write(self, connection: CrudSession, targets: frozenset[str] | Everything) -> None:
        self._invalidate(namespace(connection), targets)
        local = connection._local.__dict__
        if local.get("stack"):
            pending = local.get(_PENDING_KEY)
            if isinstance(targets, Everything) or isinstance(pending, Everything):
                local[_PENDING_KEY] = EVERYTHING
            else:
                local[_PENDING_KEY] = targets | (pending or frozenset())

    def transaction_ended(self, connection: CrudSession) -> None:
        """Called when the outermost transaction on this thread ends: forget its writes once more."""
        pending = connection._local.__dict__.pop(_PENDING_KEY, None)
        if pending is not None:
            self._invalidate(namespace(connection), pending)

    # -- reporting --------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters for ``get_database_stats()``: hits, misses, hit ratio, size, invalidations..."""
        with self._lock:
            lookups = self.hits + self.misses
            return {
                "enabled": True,
                "hits": self.hits,
                "misses": self.misses,
                "hit_ratio": round(self.hits / lookups, 4) if lookups else 0.0,
                "entries": len(self._entries),
                "max_entries": self.max_entries,
                "ttl": self.ttl,
                "scope": self.scope,
                "stores": self.stores,
                "stale_results_skipped": self.stale,
                "uncacheable": self.uncacheable,
                "invalidations": self.invalidations,
                "evictions": self.evictions,
                "expirations": self.expirations,
            }

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return True  # an empty cache is still a cache: `if cache:` must not turn it off

    def __repr__(self) -> str:
        return (f"QueryCache(max_entries={self.max_entries}, ttl={self.ttl:g}, scope={self.scope!r}, "
                f"entries={len(self._entries)})")


def freeze_params(params: Any) -> Hashable:
    """A hashable form of statement parameters (mappings become sorted item tuples)."""
    if params is None:
        return None
    if isinstance(params, Mapping):
        return tuple(sorted(params.items()))
    return tuple(params)


def cached_execute(connection: CrudSession, query: str, params: Any = None,
                   tables: Sequence[str] | None = None) -> QueryResult:
    """Run a read marked for caching (``DatabaseManager.execute(..., cache=True)``).

    Without a cache on ``connection``, or inside a transaction, this is plain
    ``execute``. The entry depends on every table (any write through the
    connection drops it) unless ``tables`` names the tables the query reads.
    A statement that may write is refused: caching it would skip the write.
    """
    cache = connection.query_cache
    if cache is None or in_transaction(connection):
        return connection.execute(query, params)
    if write_targets(query) is not None:
        raise ConfigurationError("execute(cache=True) is for reads only; this statement may change data: "
                                 f"{' '.join(query.split())[:80]!r}")
    if tables:
        from dbkeeper.crud.table_meta import cache_tag

        tags = frozenset(cache_tag(name) for name in tables)
    else:
        tags = frozenset({ANY_TABLE})
    try:
        key: Hashable = ("raw", query, freeze_params(params))
    except TypeError as exc:  # pragma: no cover - defensive: params that cannot even be iterated
        raise DbKeeperError(f"execute(cache=True): cannot use these parameters as a cache key: {exc}") from None
    return cache.fetch(connection, key, tags, lambda: connection.execute(query, params))
