"""Where the plain dump stream is cut into chunks, and how chunks are named.

Incremental backups store only the chunks their base lacks, so the same
content must produce the same chunks from one backup to the next:

* :class:`FixedChunker` cuts every ``size`` bytes. Right for a page image
  (SQLite): a changed page changes only the chunk it lies in, and a chunk
  size that is a multiple of the page size keeps pages whole.
* :class:`LineChunker` cuts content-defined, and only after a newline, i.e.
  on row boundaries of a line-per-row export (``COPY ... TO STDOUT`` text,
  one row per line). Whether a line ends a chunk depends only on that
  line's bytes (the CRC-32 of the line without its newline, below its
  length including the newline times ``2^32 // (average - minimum)``,
  so chunks average ``average`` bytes whatever the row width), after at
  least ``minimum`` bytes and before ``maximum``. An update, insert or delete
  therefore changes the chunk it falls in (and rarely the next); every
  other chunk keeps its bytes and its name. Byte offsets play no part, which
  is what fixed-size chunking of a logical dump gets wrong (an insert shifts
  every later chunk).

Chunk names (:func:`identify`) are keyed hashes: the key is a random
secret of the chain (kept in its encrypted manifests), so two unrelated
encrypted backups holding equal plaintext still name it differently. Chains
started by this version use HMAC-SHA-256 over the chunk's SHA-256
(``sha256-hmac``): the SHA-256 is the chunk record's plain digest anyway, so
naming a chunk costs one SHA-256 pass (1.6 GB/s with the CPU's SHA
instructions, against 0.7 GB/s for BLAKE2b). Older chains keep keyed
BLAKE2b-256 (``blake2b``): the scheme is the chain's, recorded in its
manifests as ``chunk_id``.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import operator
import zlib
from collections.abc import Mapping
from typing import Any, Protocol

from dbkeeper.backup.errors import BackupError

#: Page-image chunking default: a multiple of every SQLite page size (512 B - 64 KiB).
PAGE_CHUNK = 64 << 10
#: Average chunk of a row export: small enough that a 1 % change in one key range stays near 1 %.
LINE_AVERAGE = 256 << 10


class Chunker(Protocol):
    """Cuts a stream fed in arbitrary pieces into chunks."""

    spec: dict[str, Any]

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add bytes; return the chunks completed by them."""

    def flush(self) -> bytes:
        """The rest of the stream (possibly empty)."""


class FixedChunker:
    """Chunks of exactly ``size`` bytes (the last one shorter)."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise BackupError(f"chunk size must be positive, not {size}")
        self.size = size
        self.spec: dict[str, Any] = {"kind": "fixed", "size": size}
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        if not self._buffer:  # the usual case (pieces are multiples of the size): cut straight from ``data``
            view = memoryview(data).cast("B")
            whole = len(view) - len(view) % self.size
            self._buffer += view[whole:]
            return [bytes(view[start:start + self.size]) for start in range(0, whole, self.size)]
        self._buffer += data
        out: list[bytes] = []
        if len(self._buffer) < self.size:
            return out
        whole = len(self._buffer) - len(self._buffer) % self.size
        for start in range(0, whole, self.size):
            out.append(bytes(self._buffer[start:start + self.size]))
        del self._buffer[:whole]
        return out

    def flush(self) -> bytes:
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


class LineChunker:
    """Content-defined chunks that end after a newline (see the module docstring).

    Lines are hashed in bulk (``split`` and ``map`` over C builtins, no
    Python code per row): a chunk ends after the first line, at least
    ``minimum`` bytes in, whose flag is set; a chunk that reaches ``maximum``
    bytes without one ends after its last newline, or hard at ``maximum``.
    A line's flag depends only on its own bytes, so where chunks end does not
    depend on how the stream was written.
    """

    def __init__(self, average: int = LINE_AVERAGE, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum = max(1, minimum if minimum is not None else average // 4)
        self.maximum = maximum if maximum is not None else average * 4
        if not self.minimum < average < self.maximum:
            raise BackupError(f"line chunking needs minimum < average < maximum (got {self.minimum}, {average}, "
                              f"{self.maximum})")
        self.spec = {"kind": "lines", "average": average, "minimum": self.minimum, "maximum": self.maximum}
        self._scale = (1 << 32) // (average - self.minimum)
        self._buffer = bytearray()
        self._base = 0  # stream offset of self._buffer[0]
        self._scanned = 0  # stream offset up to which lines have been hashed
        self._ends: list[int] = []  # stream offsets just after each hashed line's newline
        self._flags: list[bool] = []

    def _scan(self) -> None:
        last = self._buffer.rfind(b"\n", self._scanned - self._base)
        if last < 0:
            return
        lines = bytes(self._buffer[self._scanned - self._base:last]).split(b"\n")
        lengths = list(map(operator.add, map(len, lines), itertools.repeat(1)))
        ends = list(itertools.accumulate(lengths, initial=self._scanned))[1:]
        # flag: crc32(line) < length x 2^32 / (average - minimum), i.e. about one cut per that many bytes
        self._flags += map(operator.lt, map(zlib.crc32, lines), map(operator.mul, lengths,
                                                                    itertools.repeat(self._scale)))
        self._ends += ends
        self._scanned = self._base + last + 1

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        self._buffer += data
        self._scan()
        out: list[bytes] = []
        ends, flags = self._ends, self._flags
        start = self._base
        top = self._base + len(self._buffer)
        while True:
            lo = bisect.bisect_left(ends, start + self.minimum)
            hi = bisect.bisect_right(ends, start + self.maximum)
            try:
                end = ends[flags.index(True, lo, hi)]
            except ValueError:
                if top - start < self.maximum:
                    break
                end = ends[hi - 1] if hi > 0 and ends[hi - 1] > start else start + self.maximum
            out.append(bytes(self._buffer[start - self._base:end - self._base]))
            start = end
        if start > self._base:
            del self._buffer[:start - self._base]
            self._base = start
            drop = bisect.bisect_right(ends, start)
            del ends[:drop], flags[:drop]
            self._scanned = max(self._scanned, start)
        return out

    def flush(self) -> bytes:
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._base += len(rest)
        self._scanned = self._base
        self._ends.clear()
        self._flags.clear()
        return rest


def make_chunker(spec: Mapping[str, Any]) -> Chunker:
    """The chunker a manifest's ``chunking`` section (or a dialect) describes."""
    kind = spec.get("kind")
    if kind == "fixed":
        return FixedChunker(int(spec["size"]))
    if kind == "lines":
        return LineChunker(int(spec["average"]), spec.get("minimum"), spec.get("maximum"))
    raise BackupError(f"unknown chunking {kind!r}; upgrade dbkeeper")


#: Chunk id schemes: the one new chains use, and the one a manifest without ``chunk_id`` used.
ID_SCHEME = "sha256-hmac"
LEGACY_ID_SCHEME = "blake2b"


def chunk_id(key: bytes, data: bytes) -> str:
    """The keyed content address of a chunk under the legacy scheme (hex BLAKE2b-256 under the chain's key)."""
    return hashlib.blake2b(data, key=key, digest_size=32).hexdigest()


def identify(key: bytes, data: bytes, scheme: str) -> tuple[str, str | None]:
    """``(chunk id, plain SHA-256 hex or None)`` of ``data`` under the chain's ``key`` and id ``scheme``."""
    if scheme == ID_SCHEME:
        digest = hashlib.sha256(data).digest()
        return hmac.new(key, digest, "sha256").hexdigest(), digest.hex()
    if scheme == LEGACY_ID_SCHEME:
        return chunk_id(key, data), None
    raise BackupError(f"unknown chunk id scheme {scheme!r}; upgrade dbkeeper")
