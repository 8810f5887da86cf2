"""Multi-row ``INSERT ... VALUES (...), (...)`` batches sized in bytes.

MySQL parses one long multi-row ``INSERT`` far faster than many short ones,
and PyMySQL's ``executemany`` already relies on that; this module does the
same with less Python work per row. Every value is escaped by PyMySQL:
strings, bytes and unknown types by ``Connection.escape`` (which follows the
session's ``NO_BACKSLASH_ESCAPES`` setting), numbers, ``None``, dates and
decimals by the connection's own ``encoders`` entry for their exact type,
which is the function ``Connection.escape`` would call for them, looked up
once per value instead of after three type tests. Rows are joined into a
statement until the next one would push it past the byte limit, and PyMySQL
encodes each statement once.

A statement never exceeds the server's ``max_allowed_packet`` (read once per
connection and cached); a single row too large for it is refused with a
:class:`~dbkeeper.errors.QueryError` before anything is sent, because the
server answers an oversized packet by closing the connection.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from dbkeeper.errors import QueryError

#: Bytes kept free below ``max_allowed_packet`` for the packet header and command byte.
PACKET_HEADROOM = 1024
#: Used when the server does not report ``max_allowed_packet`` (it always should).
FALLBACK_MAX_PACKET = 4 * 1024 * 1024

#: Types ``Connection.escape`` handles itself rather than through ``encoders``.
_VIA_ESCAPE = (str, bytes, bytearray, tuple, list, set, frozenset, dict)

_max_packets: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def max_allowed_packet(conn: Any) -> int:
    """The session's ``max_allowed_packet`` of the PyMySQL connection ``conn``, read once and cached."""
    try:
        return _max_packets[conn]
    except KeyError:
        pass
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT @@max_allowed_packet")
        row = cursor.fetchone()
    finally:
        cursor.close()
    value = int(row[0]) if row and row[0] else FALLBACK_MAX_PACKET
    _max_packets[conn] = value
    return value


def insert_rows(conn: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                batch_bytes: int) -> int:
    """Insert ``rows`` into the quoted ``table``/``columns`` in statements of at most ``batch_bytes``.

    ``batch_bytes`` is capped by the server's ``max_allowed_packet``. Runs
    on ``conn`` as it is (inside the caller's transaction); returns the
    number of rows sent. Driver errors propagate unchanged.
    """
    server_limit = max_allowed_packet(conn) - PACKET_HEADROOM
    limit = max(1, min(batch_bytes, server_limit))
    prefix = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    encoding = conn.encoding
    base = len(prefix.encode(encoding))
    escape = conn.escape
    encoders = conn.encoders
    from pymysql.converters import escape_sequence

    direct = {kind: encoder for kind, encoder in encoders.items()
              if kind not in _VIA_ESCAPE and encoder is not escape_sequence}
    encoder_for = direct.get
    total = 0
    parts: list[str] = []
    size = base
    cursor = conn.cursor()
    try:
        for row in rows:
            literals = []
            for value in row:
                encoder = encoder_for(type(value))
                literals.append(encoder(value, encoders) if encoder is not None else escape(value))
            text = "(" + ",".join(literals) + ")"
            length = len(text) if text.isascii() else len(text.encode(encoding))
            if parts and size + length + 1 > limit:
                cursor.execute(prefix + ",".join(parts))
                total += len(parts)
                parts = []
                size = base
            if base + length > server_limit:
                raise QueryError(
                    f"row {total + len(parts) + 1} of the bulk insert into {table} is {length} bytes as SQL, more "
                    f"than the server's max_allowed_packet ({server_limit + PACKET_HEADROOM}) allows; raise "
                    "max_allowed_packet on the server or insert that row another way",
                )
            parts.append(text)
            size += length + 1
        if parts:
            cursor.execute(prefix + ",".join(parts))
            total += len(parts)
    finally:
        cursor.close()
    return total
