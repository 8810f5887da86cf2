"""The byte framing shared by the plain and the chainable Redis dump: sized JSON blocks and key records.

Its own module because the plain dump (``dump.py``) and the chainable one
(``chainable.py``) both write and read these frames, and each calls into the
other's entry points.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from typing import IO, Any

from dbkeeper_redis.errors import RedisDumpFormatError

U8 = struct.Struct(">B")
U32 = struct.Struct(">I")
I64 = struct.Struct(">q")
U64 = struct.Struct(">Q")


# -- writing -------------------------------------------------------------------------------------
def json_block(data: Mapping[str, Any]) -> bytes:
    """A JSON object as the framing stores it: u32 length, canonical JSON (both framings)."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return U32.pack(len(body)) + body


def record_body(kind: str, key: bytes, expire_at_ms: int, payload: bytes) -> bytes:
    """A record after its tag: type, key, expiry, payload (the same in both framings)."""
    kind_bytes = kind.encode("ascii", "replace")[:255]
    return b"".join((U8.pack(len(kind_bytes)), kind_bytes, U32.pack(len(key)), key,
                     I64.pack(expire_at_ms), U32.pack(len(payload)), payload))


def encode_record(kind: str, key: bytes, expire_at_ms: int, payload: bytes) -> bytes:
    """One ``K`` record of the framing above."""
    return b"K" + record_body(kind, key, expire_at_ms, payload)


class FrameReader:
    """Exact reads from the plain dump stream; a short read is a format error, never a silent stop."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source: Any = source if isinstance(source, io.BufferedIOBase) else io.BufferedReader(source)

    @property
    def stream(self) -> IO[bytes]:
        """The buffered stream read from (a framing reader can continue where this one stopped)."""
        return self._source  # type: ignore[no-any-return]

    def exact(self, n: int, what: str) -> bytes:
        data: bytes | None = self._source.read(n)
        if data is None or len(data) != n:
            raise RedisDumpFormatError(f"the Redis dump ends inside {what} (truncated stream)")
        return data

    def json(self, what: str) -> dict[str, Any]:
        (length,) = U32.unpack(self.exact(4, what))
        try:
            value = json.loads(self.exact(length, what))
        except ValueError:
            raise RedisDumpFormatError(f"the Redis dump's {what} is not valid JSON") from None
        if not isinstance(value, dict):
            raise RedisDumpFormatError(f"the Redis dump's {what} is not a JSON object")
        return value

    def at_end(self) -> bool:
        return bool(self._source.read(1) == b"")


def read_record(reader: FrameReader) -> tuple[str, bytes, int, bytes]:
    """A record after its tag: ``(type, key, expire_at_ms, payload)`` (the same in both framings)."""
    (kind_len,) = U8.unpack(reader.exact(1, "a record"))
    kind = reader.exact(kind_len, "a record").decode("ascii", "replace")
    (key_len,) = U32.unpack(reader.exact(4, "a record"))
    key = reader.exact(key_len, "a key")
    (expire_at,) = I64.unpack(reader.exact(8, "a record"))
    (payload_len,) = U32.unpack(reader.exact(4, "a record"))
    return kind, key, expire_at, reader.exact(payload_len, "a value")


def read_end(reader: FrameReader, count: int, trailer: dict[str, Any]) -> None:
    """The end record after its tag: check its count against ``count``; its JSON goes into ``trailer``."""
    (expected,) = U64.unpack(reader.exact(8, "the end record"))
    trailer.update(reader.json("end record"))
    if expected != count:
        raise RedisDumpFormatError(f"the Redis dump holds {count} keys but its end record says {expected}")
