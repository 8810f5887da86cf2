"""The archive file format: magic, header, then self-checking frames.

Layout (all integers big-endian; full description in ``docs/backup-format.md``)::

    magic      8 bytes  b"DBKB\\x00\\x01\\r\\n"
    hlen       u32      length of the header JSON
    header     hlen bytes of UTF-8 JSON: {"core": {...}, "keys": [...] | null}
    hsum       32 bytes SHA-256 of the header JSON
    frame*     kind (1) | index (u64) | length (u32) | payload | SHA-256 (32)

The frame SHA-256 covers the *core digest* (SHA-256 of the canonical JSON of
``header.core``, which holds the backup id), the kind, the index, the length
and the payload, so a frame copied from another backup or another position
fails. Frame kinds: ``C`` chunk (indices 0..n-1), ``M`` manifest (index n),
``E`` end marker (index n+1), after which the file must end. The key
section is outside the core digest so a key rotation rewrites it alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from dbkeeper.backup.errors import CorruptBackupError

MAGIC = b"DBKB\x00\x01\r\n"
FORMAT_NAME = "dbkeeper-backup"
FORMAT_VERSION = 1
#: Minor version of new archives: 1 adds chunk ids, ``sequence`` and ``chunk_key`` (readable by 1.0 readers);
#: 2 adds ``sequence_sha256`` and lets a chained manifest's ``plain_sha256`` be null (spans reused unread).
FORMAT_MINOR = 2
#: Incremental and differential archives: their chunks alone are not the dump, so 1.x readers must refuse them.
CHAINED_VERSION = 2
SUPPORTED_VERSIONS = (FORMAT_VERSION, CHAINED_VERSION)
KIND_CHUNK = b"C"
KIND_MANIFEST = b"M"
KIND_END = b"E"
_FRAME_HEAD = struct.Struct(">cQI")
_MAX_HEADER = 1 << 20
#: Largest payload a frame may claim; anything bigger is corruption, not a reason to allocate.
MAX_FRAME = 256 << 20


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no spaces: the bytes that digests are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def core_digest(core: dict[str, Any]) -> bytes:
    """The digest bound into every frame: identifies the backup and its settings."""
    return hashlib.sha256(canonical_json(core)).digest()


def frame_digest(digest: bytes, kind: bytes, index: int, payload: bytes) -> bytes:
    """SHA-256 of the core digest, the frame head and the payload."""
    h = hashlib.sha256(digest)
    h.update(_FRAME_HEAD.pack(kind, index, len(payload)))
    h.update(payload)
    return h.digest()


def new_core(*, backup_id: str, created_at: str, backup_type: str, parent_id: str | None, database_type: str,
             dialect: str, chunk_size: int, compression: dict[str, Any], encrypted: bool,
             cipher: str) -> dict[str, Any]:
    """The header's ``core``: what identifies the backup and how its frames are encoded.

    Its canonical JSON's digest is bound into every frame (:func:`core_digest`),
    so the fields here are exactly those a frame must not be moved across.
    A chained archive (``parent_id``) gets :data:`CHAINED_VERSION`, which 1.x
    readers refuse, since its chunks alone are not the dump.
    """
    return {
        "format": FORMAT_NAME, "version": FORMAT_VERSION if parent_id is None else CHAINED_VERSION,
        "backup_id": backup_id, "created_at": created_at, "backup_type": backup_type, "parent_id": parent_id,
        "minor": FORMAT_MINOR, "database_type": database_type, "dialect": dialect, "chunk_size": chunk_size,
        "compression": compression, "encryption": {"cipher": cipher} if encrypted else None,
    }


def public_kdf(header: dict[str, Any], cipher: str) -> dict[str, Any] | None:
    """The manifest's ``encryption``: the cipher and the first key slot's KDF parameters (no key material)."""
    keys = header.get("keys")
    if not keys:
        return None
    return {"cipher": cipher, "kdf": keys[0]["kdf"]}


@dataclass
class ManifestBuilder:
    """Collects what the manifest frame says of a backup, from its header to its last chunk.

    The manager fills it in named steps (where the dump came from, what the
    dump said, what the sink stored) and :meth:`build` returns the dict that
    :func:`end_marker` follows; it holds no secret (the location has no
    password, the encryption section only KDF parameters).
    """

    core: dict[str, Any]
    database_name: str
    location: dict[str, Any]
    include_schema: bool
    include_data: bool
    encryption: dict[str, Any] | None
    data_offset: int
    fields: dict[str, Any] = field(default_factory=dict)

    def dumped(self, dump_meta: dict[str, Any]) -> None:
        """What the dialect returned from ``Dialect.dump``."""
        self.fields["dump"] = dump_meta

    def stored(self, *, chunks: list[dict[str, Any]], chunking: dict[str, Any], chunk_key: str, chunk_id: str,
               sequence: list[list[Any]], reused_bytes: int, plain_size: int, plain_sha256: str | None,
               sequence_sha256: str | None) -> None:
        """What the sink stored: the chunk records, the chain's sequence and the stream's digests."""
        self.fields.update(chunks=chunks, chunking=chunking, chunk_key=chunk_key, chunk_id=chunk_id,
                           sequence=sequence, reused_bytes=reused_bytes, plain_size=plain_size,
                           plain_sha256=plain_sha256, sequence_sha256=sequence_sha256)

    def build(self, finished_at: str) -> dict[str, Any]:
        """The manifest: core fields repeated, the sections above, and ``finished_at``."""
        core = self.core
        return {
            "format": FORMAT_NAME, "version": core["version"], "minor": FORMAT_MINOR, "backup_id": core["backup_id"],
            "backup_type": core["backup_type"], "parent_id": core["parent_id"], "database_name": self.database_name,
            "database_type": core["database_type"], "dialect": core["dialect"], "location": self.location,
            "include_schema": self.include_schema, "include_data": self.include_data,
            "compression": core["compression"], "encryption": self.encryption, "chunk_size": core["chunk_size"],
            "data_offset": self.data_offset, "created_at": core["created_at"], "finished_at": finished_at,
            **self.fields,
        }


def end_marker(chunks: int) -> dict[str, Any]:
    """The completion marker's body: the chunk count, checked against the frames and the manifest."""
    return {"complete": True, "chunks": chunks, "manifest_chunks": chunks}


class ArchiveWriter:
    """Writes the header and frames to an open binary file, hashing all bytes written."""

    def __init__(self, fileobj: IO[bytes], header: dict[str, Any]) -> None:
        self._file = fileobj
        self._hash = hashlib.sha256()
        self.offset = 0
        self.digest = core_digest(header["core"])
        body = canonical_json(header)
        self._write(MAGIC + struct.pack(">I", len(body)) + body + hashlib.sha256(body).digest())

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.offset += len(data)

    def write_frame(self, kind: bytes, index: int, payload: bytes) -> tuple[int, int]:
        """Append one frame; return its (offset, total length)."""
        start = self.offset
        self._write(_FRAME_HEAD.pack(kind, index, len(payload)))
        self._write(payload)
        self._write(frame_digest(self.digest, kind, index, payload))
        return start, self.offset - start

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of every byte written so far (the archive checksum once finished)."""
        return self._hash.hexdigest()


@dataclass(frozen=True)
class Frame:
    """One frame as read back, its digest already checked."""

    kind: bytes
    index: int
    payload: bytes
    offset: int


class ArchiveReader:
    """Reads the header and iterates frames, checking every stored-bytes hash."""

    def __init__(self, fileobj: IO[bytes], *, where: str = "archive") -> None:
        self._file = fileobj
        self._where = where
        self._hash = hashlib.sha256()
        self.hashing = True
        self.offset = 0
        magic = self._read(len(MAGIC), "magic")
        if magic != MAGIC:
            raise CorruptBackupError(f"{where} is not a dbkeeper backup (bad magic) or is a newer format version")
        (hlen,) = struct.unpack(">I", self._read(4, "header length"))
        if hlen > _MAX_HEADER:
            raise CorruptBackupError(f"{where}: header length {hlen} is implausible; the header is damaged")
        body = self._read(hlen, "header")
        if hashlib.sha256(body).digest() != self._read(32, "header checksum"):
            raise CorruptBackupError(f"{where}: the header failed its SHA-256 check; the file is damaged")
        try:
            self.header: dict[str, Any] = json.loads(body)
            self.core: dict[str, Any] = self.header["core"]
        except (ValueError, KeyError, TypeError):
            raise CorruptBackupError(f"{where}: the header is not valid JSON") from None
        if self.core.get("format") != FORMAT_NAME or self.core.get("version") not in SUPPORTED_VERSIONS:
            raise CorruptBackupError(f"{where}: unsupported format {self.core.get('format')!r} "
                                     f"version {self.core.get('version')!r}; upgrade dbkeeper")
        self.digest = core_digest(self.core)

    def _read(self, n: int, what: str) -> bytes:
        data = self._file.read(n)
        if len(data) != n:
            raise CorruptBackupError(f"{self._where} is truncated (ends inside the {what} at byte {self.offset})")
        if self.hashing:
            self._hash.update(data)
        self.offset += n
        return data

    def frames(self, *, check_digests: bool = True, skip_chunks: bool = False) -> Iterator[Frame]:
        """Frames in order, checked: indices, kinds, digests, end marker and nothing after it.

        ``check_digests=False`` skips the stored-bytes SHA-256 (and the
        whole-file hash): only for a second pass over a file whose digests
        were just checked, whose chunks are then checked by content.
        ``skip_chunks=True`` seeks past chunk payloads (yielded with an empty
        payload, unchecked) and checks only the manifest and end frames and
        the frame structure: enough to learn what an archive holds without
        reading its data (the base of a new incremental).
        """
        expected = 0
        seen_manifest = False
        self.hashing = check_digests and not skip_chunks
        while True:
            start = self.offset
            head = self._file.read(_FRAME_HEAD.size)
            if not head:
                raise CorruptBackupError(f"{self._where} is truncated: it ends at byte {start} without its "
                                         "completion marker (the backup did not finish or lost its tail)")
            if len(head) != _FRAME_HEAD.size:
                raise CorruptBackupError(f"{self._where} is truncated inside a frame header at byte {start}")
            if self.hashing:
                self._hash.update(head)
            self.offset += len(head)
            kind, index, length = _FRAME_HEAD.unpack(head)
            if kind not in (KIND_CHUNK, KIND_MANIFEST, KIND_END) or length > MAX_FRAME:
                raise CorruptBackupError(f"{self._where}: damaged frame header at byte {start}")
            if skip_chunks and kind == KIND_CHUNK:
                self.offset = self._file.seek(length + 32, os.SEEK_CUR)  # past the end: the next read finds it
                payload = b""
            else:
                payload = self._read(length, f"frame {index}")
                stored = self._read(32, f"frame {index} checksum")
                if (check_digests or skip_chunks) and frame_digest(self.digest, kind, index, payload) != stored:
                    raise CorruptBackupError(f"{self._where}: frame {index} at byte {start} failed its SHA-256 "
                                             "check (flipped bytes, or a frame from another position or backup)")
            if index != expected:
                raise CorruptBackupError(f"{self._where}: frame {index} found where frame {expected} belongs "
                                         "(frames reordered or dropped)")
            if (kind == KIND_CHUNK and seen_manifest) or (kind == KIND_END and not seen_manifest):
                raise CorruptBackupError(f"{self._where}: frames out of order at byte {start}")
            yield Frame(kind, index, payload, start)
            expected += 1
            if kind == KIND_MANIFEST:
                seen_manifest = True
            if kind == KIND_END:
                if self._file.read(1):
                    raise CorruptBackupError(f"{self._where}: unexpected data after the completion marker "
                                             f"at byte {self.offset}")
                return

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of every byte read so far (the whole file once :meth:`frames` is exhausted)."""
        return self._hash.hexdigest()
