"""Values MySQL would store wrongly without a word: time-zone-aware datetimes, statements over the packet limit.

* MySQL's ``DATETIME`` and ``TIMESTAMP`` hold no offset, and PyMySQL writes
  an aware ``datetime`` as its wall-clock digits, dropping the offset: 12:00
  at -04:00 became 12:00 in a session at +03:00. An aware ``datetime`` is
  converted to the session's time zone instead, by the server (so ``SYSTEM``
  and named zones are exact, daylight saving included): it is sent as
  ``CONVERT_TZ('<UTC digits>', '+00:00', @@session.time_zone)``. Naive values
  are sent as they are, as before.
* A statement longer than the server's ``max_allowed_packet`` makes the
  server drop the connection, which PyMySQL reports as "server has gone away"
  (2006) - a lost connection, retried. :func:`check_packet` refuses it before
  it is sent with error 1153 (``ER_NET_PACKET_TOO_LARGE``), which is what it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymysql.converters import escape_datetime

#: The server's error for a packet over ``max_allowed_packet``.
ER_NET_PACKET_TOO_LARGE = 1153
#: The smallest ``max_allowed_packet`` a server accepts: shorter statements need no check.
MIN_MAX_ALLOWED_PACKET = 1024


def escape_datetime_in_session_zone(value: datetime, mapping: Any = None) -> str:
    """PyMySQL's literal for a naive ``datetime``; for an aware one, the server's conversion to the session zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        return str(escape_datetime(value, mapping))
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return f"CONVERT_TZ({escape_datetime(utc, mapping)}, '+00:00', @@session.time_zone)"


def check_packet(conn: Any, sql: str | bytes) -> None:
    """Raise ``OperationalError(1153)`` when ``sql`` cannot fit in one packet of ``conn``'s server.

    The limit is read once per connection, and only when a statement is long
    enough that it could matter.
    """
    size = len(sql)
    if size < MIN_MAX_ALLOWED_PACKET:
        return
    limit = getattr(conn, "dbkeeper_max_packet", None)
    if limit is None:
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT @@max_allowed_packet")
            row = cursor.fetchone()
        finally:
            cursor.close()
        limit = conn.dbkeeper_max_packet = int(row[0])
    if size * 4 < limit:  # even at 4 bytes per character
        return
    encoded = sql if isinstance(sql, bytes) else sql.encode(conn.encoding, "surrogateescape")
    if len(encoded) + 1 > limit:  # the command byte is part of the packet
        from pymysql import err

        raise err.OperationalError(
            ER_NET_PACKET_TOO_LARGE,
            f"the statement is {len(encoded):,} bytes, more than the server's max_allowed_packet "
            f"({limit:,} bytes); send the value in parts, or raise max_allowed_packet on the server")
