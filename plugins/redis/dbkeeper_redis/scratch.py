"""Named scratch databases on a server whose databases are numbered.

dbkeeper's generic scratch-database helper
(:func:`dbkeeper.testing.servers.scratch_database`, used by the conformance
suite, by test fixtures and by deep backup verification) creates a database
with a unique *name* and later connects to ``url.with_database(name)``.
Redis cannot create databases: it has a fixed set of numbered ones. So a
"created" scratch database is an *empty numbered database claimed* under
that name:

* claiming runs one Lua script per candidate database (highest number first,
  never database 0): if ``DBSIZE`` is 0 it writes the marker key
  :data:`MARKER_KEY` holding the name. Scripts are atomic, so two processes
  (pytest-xdist workers, two verifies) can never claim the same database;
* a URL whose database is not a number is resolved by finding the database
  whose marker holds that name (cached per process, re-checked on use);
* dropping flushes the database only while its marker still holds the name.

Restores claim one the same way as their staging database
(``dbk_restore_...``, see :mod:`dbkeeper_redis.dump`). The marker is the only
key dbkeeper ever adds to a database. Dumps,
introspection, key counts and the restore's emptiness check skip it. A
process killed while holding a claim leaves the marker behind (it has no
TTL, so leftover data is never mistaken for a user's): ``FLUSHDB`` that
database to free it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from dbkeeper_redis.errors import NoFreeDatabaseError, UnknownScratchDatabaseError

if TYPE_CHECKING:
    import redis

#: The key that marks a numbered database as claimed by a named scratch database.
MARKER_KEY = b"dbkeeper:scratch-claim"
#: Databases assumed when ``CONFIG GET databases`` is not allowed (the Redis default).
DEFAULT_DATABASES = 16

_CLAIM = """
if redis.call('DBSIZE') == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('FLUSHDB')
  return 1
end
return 0
"""
#: Empty the current database but keep a scratch claim marker, so a claimed database stays claimed.
FLUSH_KEEPING_CLAIM = """
local claim = redis.call('GET', KEYS[1])
redis.call('FLUSHDB')
if claim then
  redis.call('SET', KEYS[1], claim)
end
return 1
"""

_cache: dict[tuple[str, int, str], int] = {}
_cache_lock = threading.Lock()


def database_count(client: redis.Redis) -> int:
    """How many numbered databases the server has (``CONFIG GET databases``, else the default 16)."""
    import redis as redis_module

    try:
        reply: Any = client.execute_command("CONFIG", "GET", "databases")  # type: ignore[no-untyped-call]
    except redis_module.ResponseError:  # CONFIG renamed or denied by an ACL
        return DEFAULT_DATABASES
    value = reply.get(b"databases") if isinstance(reply, dict) else None
    return int(value) if value else DEFAULT_DATABASES


def _key(client: redis.Redis, name: str) -> tuple[str, int, str]:
    kwargs = client.get_connection_kwargs()
    return str(kwargs.get("host")), int(kwargs.get("port") or 0), name


def _select(client: redis.Redis, number: int) -> None:
    client.execute_command("SELECT", number)  # type: ignore[no-untyped-call]


def claim(client: redis.Redis, name: str, *, exclude: int | None = None) -> int:
    """Claim an empty numbered database for ``name`` (never 0, nor ``exclude``); return its number.

    ``client`` must be a single-connection client dedicated to this call:
    it is moved between databases with ``SELECT``.
    """
    count = database_count(client)
    for number in range(count - 1, 0, -1):
        if number == exclude:
            continue
        _select(client, number)
        if client.eval(_CLAIM, 1, MARKER_KEY, name.encode()) == 1:
            with _cache_lock:
                _cache[_key(client, name)] = number
            return number
    raise NoFreeDatabaseError(
        f"no empty numbered database is left on this Redis server (checked 1..{count - 1}) to hold the scratch "
        f"database {name!r}; flush an unused one, or raise `databases` in redis.conf")


def resolve(client: redis.Redis, name: str) -> int:
    """The number of the database claimed as ``name``; raise when none is."""
    key = _key(client, name)
    with _cache_lock:
        cached = _cache.get(key)
    candidates = [cached] if cached is not None else []
    candidates += [n for n in range(database_count(client)) if n != cached]
    for number in candidates:
        _select(client, number)
        if client.get(MARKER_KEY) == name.encode():
            with _cache_lock:
                _cache[key] = number
            return number
    raise UnknownScratchDatabaseError(
        f"redis database {name!r} is neither a database number (redis://host:6379/3) nor a scratch database "
        "claimed on this server")


def forget(client: redis.Redis, name: str) -> None:
    """Drop the cached number of ``name`` (its claim was consumed, for example by a restore's swap)."""
    with _cache_lock:
        _cache.pop(_key(client, name), None)


def release(client: redis.Redis, name: str) -> bool:
    """Flush the database claimed as ``name`` (only while the claim is still ``name``'s); True when it was."""
    try:
        number = resolve(client, name)
    except UnknownScratchDatabaseError:
        return False
    _select(client, number)
    released = bool(client.eval(_RELEASE, 1, MARKER_KEY, name.encode()) == 1)
    with _cache_lock:
        _cache.pop(_key(client, name), None)
    return released
