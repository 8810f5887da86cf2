"""A DBAPI-shaped face on one Redis connection, so dbkeeper's pool and ``execute`` serve Redis.

dbkeeper's core pools "DBAPI connections" and runs statements through
``connection.cursor().execute(text, params)``. Redis has no DBAPI driver, so
:class:`RedisConnection` wraps one redis-py connection in that shape, and a
"statement" is a Redis command line, quoted the way ``redis-cli`` quotes::

    conn.execute("SET greeting ?", ("hello world",))     # ? binds positional parameters
    conn.execute("HSET user:1 name :name", {"name": "Ada"})  # :name binds named ones
    conn.execute('GET "key with spaces"')                # "..." (with \\n, \\xHH escapes) or '...'

Results become rows: a map reply gives ``field``/``value`` rows, an array
reply one ``value`` row per element, anything else a single ``value`` row.
Bulk strings are decoded as UTF-8 when they are valid UTF-8, else kept as
``bytes``.

What the shape cannot express is refused with a clear error instead of
silently breaking a pooled connection: commands that change the
connection's state (``SELECT``, ``MULTI``/``EXEC``, ``WATCH``, ``AUTH``,
``HELLO``, ``RESET``, the subscribe family, ``MONITOR``...) and SQL
transaction statements (Redis has none; the dialect declares
``transactions=False``). Three statements are the dialect's own, so the
core's generic helpers work unchanged:

* ``SELECT COUNT(*) [AS n] FROM "pattern"`` counts the keys matching a glob
  (``*``: ``DBSIZE``); the core's ``get_table_info`` and deep backup
  verification count "rows" of a "table" (a key pattern) with it;
* ``DBKEEPER.CLAIMDB name`` and ``DBKEEPER.DROPDB name`` claim and free a
  named scratch database (:mod:`dbkeeper_redis.scratch`), the Redis side of
  the dialect's ``create_database_sql``/``drop_database_sql``.
"""

from __future__ import annotations

import re
import select
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dbkeeper_redis.scratch import MARKER_KEY

if TYPE_CHECKING:
    import redis


class StatementError(Exception):
    """A statement the Redis dialect cannot run; the core reports it as a ``QueryError``."""


class ConnectionGoneError(Exception):
    """The server closed the connection before the statement was sent: it never ran."""


#: Commands refused on pooled connections, with the reason shown to the user.
REFUSED: dict[str, str] = {
    **dict.fromkeys(("MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"),
                    "Redis transactions span several statements on one connection, which dbkeeper's pool does not "
                    "pin; use a Lua script (EVAL) for atomic multi-key changes"),
    **dict.fromkeys(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START"),
                    "Redis has no SQL transactions; the redis dialect declares transactions=False, so "
                    "transaction() is not available (use EVAL for atomic changes)"),
    "SELECT": "SELECT would move this pooled connection to another database; put the database number in the URL "
              "(redis://host:6379/3)",
    **dict.fromkeys(("AUTH", "HELLO", "RESET", "QUIT"),
                    "it changes the identity, protocol or life of a pooled connection; set them in the URL"),
    **dict.fromkeys(("SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "SYNC", "PSYNC"),
                    "it turns the connection into a stream of pushed messages; use redis-py directly for that"),
}

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"(?=\s|$)|\'((?:[^\'\\]|\\.)*)\'(?=\s|$)|(\S+)', re.DOTALL)
_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b", "a": b"\a", "\\": b"\\", '"': b'"', "'": b"'"}
_COUNT = re.compile(
    r'^\s*SELECT\s+COUNT\s*\(\s*\*\s*\)(?:\s+AS\s+(?P<alias>\w+|"(?:[^"]|"")*"))?\s+FROM\s+'
    r'(?P<table>"(?:[^"]|"")*"|\S+)\s*;?\s*$', re.IGNORECASE | re.DOTALL)
_SCRATCH = re.compile(r"^\s*DBKEEPER\.(?P<op>CLAIMDB|DROPDB)\s+(?P<name>[A-Za-z0-9_.-]+)\s*$", re.IGNORECASE)


def _unescape_double(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            out += _ESCAPES.get(nxt, nxt.encode())
            i += 2
            continue
        out += ch.encode()
        i += 1
    return bytes(out)


def tokenize(statement: str, params: Any) -> list[Any]:
    """Split a command line into arguments, binding ``?`` and ``:name`` tokens to ``params``.

    Placeholders are whole unquoted tokens only, so ``"?"`` and ``'?'`` stay
    literal question marks. Values are passed to the server as separate
    arguments, never spliced into the text.
    """
    args: list[Any] = []
    positional = iter(params) if isinstance(params, Sequence) and not isinstance(params, (str, bytes)) else None
    named = params if isinstance(params, Mapping) else None
    used = 0
    for match in _TOKEN.finditer(statement):
        double, single, bare = match.groups()
        if double is not None:
            args.append(_unescape_double(double))
        elif single is not None:
            args.append(single.replace("\\'", "'").encode())
        elif bare.startswith(('"', "'")):
            raise StatementError(f"bad quoting (unterminated, or text right after the closing quote) in: {bare}")
        elif bare == "?" and positional is not None:
            try:
                args.append(next(positional))
            except StopIteration:
                raise StatementError("more ? placeholders than parameters") from None
            used += 1
        elif bare.startswith(":") and len(bare) > 1 and named is not None:
            if bare[1:] not in named:
                raise StatementError(f"no parameter named {bare[1:]!r}")
            args.append(named[bare[1:]])
        else:
            args.append(bare)
    if positional is not None and next(positional, None) is not None:
        raise StatementError(f"more parameters than ? placeholders ({used})")
    return args


def unquote_identifier(text: str) -> str:
    """Undo :meth:`RedisDialect.quote_identifier` (``"a""b"`` -> ``a"b``)."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def decode(value: Any) -> Any:
    """Bulk strings as ``str`` when they are UTF-8, else ``bytes``; containers recursively."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    if isinstance(value, list | tuple | set):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        return {decode(k): decode(v) for k, v in value.items()}
    return value


def parse_info(text: bytes) -> dict[str, str]:
    """``INFO``'s ``field:value`` lines as a dict, section headers and blank lines dropped."""
    fields: dict[str, str] = {}
    for line in text.decode(errors="replace").splitlines():
        if line and not line.startswith("#") and ":" in line:
            name, _, value = line.partition(":")
            fields[name] = value
    return fields


def count_keys(client: redis.Redis, pattern: str) -> int:
    """Keys matching the glob ``pattern`` (scratch marker excluded): ``DBSIZE`` for ``*``, else a full SCAN."""
    if pattern == "*":
        total: Any = client.dbsize()
        marker: Any = client.exists(MARKER_KEY)
        return int(total) - int(marker)
    return sum(1 for key in client.scan_iter(match=pattern, count=1000) if key != MARKER_KEY)


class RedisCursor:
    """The DBAPI cursor subset the core uses: ``execute``, ``description``, ``fetchall``, ``rowcount``."""

    arraysize = 1

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self.description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1
        self.lastrowid = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, statement: str, params: Any = None) -> RedisCursor:
        """Run one command line; see the module documentation for the grammar."""
        connection = self._connection
        count = _COUNT.match(statement)
        if count is not None:
            connection.check_alive()
            alias = unquote_identifier(count.group("alias") or "count")
            self._set([alias], [(count_keys(connection.client, unquote_identifier(count.group("table"))),)])
            return self
        scratch = _SCRATCH.match(statement)
        if scratch is not None:
            self._set(["value"], [(connection.scratch(scratch.group("op").upper(), scratch.group("name")),)])
            return self
        args = tokenize(statement, params)
        if not args:
            raise StatementError("empty statement: give a Redis command such as PING or GET key")
        command = str(args[0].decode() if isinstance(args[0], bytes) else args[0]).upper()
        reason = REFUSED.get(command)
        if reason is not None:
            raise StatementError(f"{command} is not available through dbkeeper: {reason}")
        reply = connection.send(args)
        if command == "INFO" and isinstance(reply, bytes):
            reply = parse_info(reply)
        if isinstance(reply, dict):
            self._set(["field", "value"], [(decode(k), decode(v)) for k, v in reply.items()])
        elif isinstance(reply, list | tuple | set):
            self._set(["value"], [(decode(v),) for v in reply])
        else:
            self._set(["value"], [(decode(reply),)])
        return self

    def executemany(self, statement: str, seq_of_params: Sequence[Any]) -> None:
        """Run the command once per parameter set (no atomicity: Redis has no transactions here)."""
        for params in seq_of_params:
            self.execute(statement, params)

    def _set(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.description = [(c, None, None, None, None, None, None) for c in columns]
        self._rows = rows
        self.rowcount = -1  # Redis replies do not say how many keys a command changed in general

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def close(self) -> None:
        self._rows = []


class RedisConnection:
    """One redis-py connection (``single_connection_client``) in the shape of a DBAPI connection.

    ``client`` is the redis-py client, for the dialect's own operations;
    ``db`` the numbered database it is bound to.
    """

    def __repr__(self) -> str:
        return f"<RedisConnection db={self.db} {'closed' if self.closed else 'open'}>"

    def __init__(self, client: redis.Redis, db: int, kwargs: dict[str, Any]) -> None:
        self.client = client
        self.db = db
        self.closed = False
        self._kwargs = kwargs  # holds the password: never shown (no __repr__ exposes it)

    def cursor(self) -> RedisCursor:
        return RedisCursor(self)

    def commit(self) -> None:
        """Nothing to commit: every Redis command takes effect when it runs."""

    def rollback(self) -> None:
        """Nothing to roll back (see :meth:`commit`)."""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.client.close()

    def check_alive(self) -> None:
        """Raise :class:`ConnectionGoneError` when the server already closed the socket.

        One non-blocking ``select()``: an idle connection whose socket is
        readable has either been closed by the server (``CLIENT KILL``,
        restart, ``timeout``) or holds a stray reply; both make it unusable,
        and in both cases the command about to be sent has not run, which
        lets the core retry it safely on a fresh connection.
        """
        import redis as redis_module

        if self.closed:
            raise ConnectionGoneError("the connection is closed")
        conn: Any = getattr(self.client, "connection", None)
        sock = getattr(conn, "_sock", None)
        if sock is None:
            return
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return
        # Readable: end of file, a stray reply, or TLS records that carry no data (TLS 1.3 session tickets).
        # Let redis-py read what is there to tell them apart.
        try:
            stray = conn.can_read(timeout=0)
        except (redis_module.ConnectionError, OSError):
            raise ConnectionGoneError("the server closed the connection") from None
        if stray:
            raise ConnectionGoneError("the connection holds a reply nobody asked for; it is out of step")

    def send(self, args: Sequence[Any]) -> Any:
        """Send one command and return the server's reply as it is (``PONG``, ``OK``; no redis-py reshaping).

        redis-py's response callbacks turn ``PING`` into ``True`` and
        ``SET`` into ``True``; a command line should show what the server
        said, so the command goes straight to the connection. A connection
        error leaves the connection disconnected for the pool to discard.
        """
        import redis as redis_module

        self.check_alive()
        conn: Any = self.client.connection
        try:
            conn.send_command(*args)
            return conn.read_response()
        except (redis_module.ConnectionError, redis_module.TimeoutError):
            conn.disconnect()
            raise

    def scratch(self, op: str, name: str) -> int:
        """Claim (``CLAIMDB``) or release (``DROPDB``) a named scratch database on a private connection."""
        from dbkeeper_redis import scratch

        helper = self.private_client()
        try:
            if op == "CLAIMDB":
                return scratch.claim(helper, name)
            return int(scratch.release(helper, name))
        finally:
            helper.close()

    def private_client(self, db: int | None = None) -> redis.Redis:
        """A new single-connection client to the same server, as the same user (database ``db``, default this one).

        For work that must not disturb the pooled connection: moving
        between databases with ``SELECT``, long SCANs, pipelines.
        """
        import redis as redis_module

        return redis_module.Redis(**{**self._kwargs, "db": self.db if db is None else db})
