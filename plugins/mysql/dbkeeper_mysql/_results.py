"""PyMySQL connections that parse each distinct set of result column definitions once.

Why: every result set of the MySQL text protocol starts with one column
definition packet per column, and PyMySQL parses each into a
``FieldDescriptorPacket`` (six length-coded strings and a struct), then
derives the cursor ``description`` and a converter per column, on every
statement. For a one-row primary-key ``SELECT`` of four columns that was
about a quarter of PyMySQL's Python work, and the same bytes come back for
every run of the same statement.

:class:`Connection` keeps, per connection, the parsed fields, converters and
description keyed by the exact bytes of the column definition packets (and
the connection's encoding), so identical definitions are parsed once.
Parsing itself is PyMySQL's own ``MySQLResult._get_descriptions``, run on a
replay of the packets: nothing of its logic is copied here. Different bytes
(another statement, an ``ALTER TABLE``, another collation) are another key.
Unbuffered (streaming) results take PyMySQL's path unchanged.
"""

from __future__ import annotations

from typing import Any

from pymysql import connections as pymysql_connections
from pymysql import err
from pymysql.protocol import MysqlPacket

#: Distinct column-definition sets remembered per connection.
MAX_DESCRIPTIONS = 256


class _Replay:
    """Stands in for the connection while PyMySQL parses packets that were already read."""

    def __init__(self, connection: Any, packets: list[bytes]) -> None:
        self.use_unicode = connection.use_unicode
        self.encoding = connection.encoding
        self.decoders = connection.decoders
        self._packets = iter(packets)

    def _read_packet(self, packet_type: type = MysqlPacket) -> Any:
        return packet_type(next(self._packets), self.encoding)


class _Result(pymysql_connections.MySQLResult):
    def _get_descriptions(self) -> None:
        connection = self.connection
        packets = [connection._read_packet().get_all_data() for _ in range(self.field_count + 1)]  # + EOF
        key = (connection.encoding, connection.use_unicode, *packets[:-1])
        cache: dict[Any, tuple[list[Any], list[Any], tuple[Any, ...]]] = connection.dbkeeper_descriptions
        known = cache.get(key)
        if known is None:
            parsed = pymysql_connections.MySQLResult(_Replay(connection, packets))
            parsed.field_count = self.field_count
            parsed._get_descriptions()  # PyMySQL's own parsing, EOF check included
            known = (parsed.fields, parsed.converters, parsed.description)
            if len(cache) >= MAX_DESCRIPTIONS:
                cache.clear()
            cache[key] = known
        elif not MysqlPacket(packets[-1], connection.encoding).is_eof_packet():
            raise err.InternalError("Protocol error, expecting EOF")
        self.fields, self.converters, self.description = list(known[0]), list(known[1]), known[2]


class Connection(pymysql_connections.Connection):
    """``pymysql.Connection`` whose buffered results reuse parsed column definitions (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import datetime

        from dbkeeper_mysql._values import escape_datetime_in_session_zone

        self.dbkeeper_descriptions: dict[Any, tuple[list[Any], list[Any], tuple[Any, ...]]] = {}
        self.dbkeeper_max_packet: int | None = None
        super().__init__(*args, **kwargs)
        # An aware datetime is converted to the session's zone, not stripped of its offset (see _values).
        encoders: dict[type, Any] = dict(self.encoders)
        encoders[datetime.datetime] = escape_datetime_in_session_zone
        self.encoders = encoders

    def query(self, sql: Any, unbuffered: bool = False) -> Any:
        """Refuse a statement over ``max_allowed_packet`` (error 1153) instead of losing the connection."""
        from dbkeeper_mysql._values import check_packet

        check_packet(self, sql)
        return super().query(sql, unbuffered)

    def _read_query_result(self, unbuffered: bool = False) -> Any:
        if unbuffered:
            return super()._read_query_result(unbuffered=True)
        # PyMySQL's buffered branch, with the result class above.
        self._result = None
        result = _Result(self)
        result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return result.affected_rows
