"""The streaming pipeline: dump bytes -> chunks -> compress -> seal -> frames, and back.

Memory stays bounded whatever the database size: the dump is cut into
``chunk_size`` pieces and at most ``2 x workers`` chunks are in flight.
Compression and encryption run in a thread pool (zstd, zlib and AES-GCM
release the GIL), which is what makes zstd "multi-threaded" here while each
chunk stays an independent, self-checking frame that restore can stream.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dbkeeper.backup.archive import KIND_CHUNK, KIND_END, KIND_MANIFEST, ArchiveReader, ArchiveWriter
from dbkeeper.backup.chunking import ID_SCHEME, Chunker, FixedChunker, identify
from dbkeeper.backup.codecs import Codec, get_codec
from dbkeeper.backup.crypto import EncryptionSettings, FrameCipher, derive_kek, unwrap_key
from dbkeeper.backup.errors import BackupError, CorruptBackupError, EncryptionError

DEFAULT_CHUNK_SIZE = 4 << 20
Progress = Callable[[int], None]


def default_workers() -> int:
    """Worker threads for compression and encryption: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class ChunkRecord:
    """What the manifest records of one stored chunk (content-addressed by ``id`` when chained)."""

    index: int
    offset: int
    stored_size: int
    plain_size: int
    sha256: str
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"index": self.index, "offset": self.offset, "stored_size": self.stored_size,
                                  "plain_size": self.plain_size, "sha256": self.sha256}
        if self.id is not None:
            record["id"] = self.id
        return record


@dataclass
class ChunkIndex:
    """Content addressing for one backup: the chain's key and the chunks its base already holds.

    ``known`` maps a chunk id to ``(backup id, frame index)`` of the archive
    that stores it. Chunks found there are referenced, not stored. With
    ``chained`` (incremental and differential backups) chunks stored by this
    backup are added too, so a chunk repeated within one dump is stored once;
    a full backup stores every chunk, so its frames alone are still the
    whole stream (what format 1.0 readers restore).
    """

    backup_id: str
    key: bytes
    chained: bool = False
    known: dict[str, tuple[str, int]] = field(default_factory=dict)
    sequence: list[list[Any]] = field(default_factory=list)
    reused_bytes: int = 0
    #: The base backup's own ``sequence`` (spans of it can be reused without their bytes; see ``reuse_base``).
    base_sequence: list[list[Any]] = field(default_factory=list)
    #: Chunk id -> ``(plain SHA-256, plain size)`` of every chunk the base chain stores.
    facts: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: How chunk ids are computed (:func:`dbkeeper.backup.chunking.identify`): the chain's scheme.
    id_scheme: str = ID_SCHEME


def _encode(codec: Codec, cipher: FrameCipher | None, index: int, data: bytes,
            digest: str | None = None) -> tuple[bytes, str]:
    if digest is None:
        digest = hashlib.sha256(data).hexdigest()
    payload = codec.compress(data)
    if cipher is not None:
        payload = cipher.seal(KIND_CHUNK, index, payload)
    return payload, digest


class ChunkSink(io.RawIOBase):
    """A write-only binary stream that turns whatever is written into archive frames.

    The writing thread only cuts chunks (the chunker is Python code, bound to
    the GIL); everything that hashes or compresses runs on other threads,
    since hashlib, zstd, zlib and AES-GCM release the GIL: the whole-stream
    SHA-256 (full backups only) on one hashing thread (fed in order), chunk
    ids on the pool, then,
    in stream order, the decision to store or reference each chunk and, for
    stored ones, compression and sealing on the pool. At most ``2 x workers``
    chunks wait in each stage.
    """

    def __init__(self, writer: ArchiveWriter, codec: Codec, cipher: FrameCipher | None, *,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, workers: int | None = None,
                 progress: Progress | None = None, chunker: Chunker | None = None,
                 index: ChunkIndex | None = None) -> None:
        super().__init__()
        self._writer = writer
        self._codec = codec
        self._cipher = cipher
        self._chunker: Chunker = chunker or FixedChunker(chunk_size)
        self.index = index
        self._workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="dbkeeper-backup")
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="dbkeeper-backup-sha256")
        self._hashing: deque[Future[None]] = deque()
        self._unplaced: deque[tuple[bytes, Future[tuple[str, str | None]]]] = deque()
        self._pending: deque[tuple[int, int, str | None, Future[tuple[bytes, str]]]] = deque()
        self._next = 0
        self._plain_hash = hashlib.sha256()
        self.plain_size = 0
        self.chunks: list[ChunkRecord] = []
        self._progress = progress
        #: Whether ``plain_sha256`` is known. An incremental or differential does not take it: every chunk's
        #: plain SHA-256 is checked when it is read and ``sequence_sha256`` pins their order, so a second pass
        #: over every byte would check nothing more (and spans of the base it reuses are never read anyway).
        self.hash_complete = index is None or not index.chained

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        block = data if isinstance(data, bytes) else bytes(memoryview(data).cast("B"))  # the caller may reuse it
        n = len(block)
        if not n:
            return 0
        if self.hash_complete:
            self._hashing.append(self._hasher.submit(self._plain_hash.update, block))
            while len(self._hashing) > 2 * self._workers:
                self._hashing.popleft().result()
        self.plain_size += n
        for piece in self._chunker.feed(block):
            self._submit(piece)
        if self._progress is not None:
            self._progress(self.plain_size)
        return n

    def _submit(self, piece: bytes) -> None:
        if self.index is None:
            self._store(piece, None, None)
            return
        self._unplaced.append((piece, self._pool.submit(identify, self.index.key, piece, self.index.id_scheme)))
        while len(self._unplaced) > 2 * self._workers:
            self._place_one()

    def _settle(self) -> None:
        """Place every chunk cut so far (the sequence is then complete up to here)."""
        while self._unplaced:
            self._place_one()

    def _place_one(self) -> None:
        """In stream order: reference the oldest identified chunk if it is known, else store it."""
        piece, future = self._unplaced.popleft()
        cid, digest = future.result()
        if self.index is not None:
            where = self.index.known.get(cid)
            if where is not None:  # the base (or this backup) already holds it: reference, do not store
                self.index.sequence.append([where[0], where[1], cid])
                self.index.reused_bytes += len(piece)
                return
        self._store(piece, cid, digest)

    def _store(self, piece: bytes, cid: str | None, digest: str | None) -> None:
        """Give ``piece`` the next frame: compressed and sealed on the pool, written in order."""
        if self.index is not None and cid is not None:
            if self.index.chained:
                self.index.known[cid] = (self.index.backup_id, self._next)
            self.index.sequence.append([self.index.backup_id, self._next, cid])
        index = self._next
        self._next += 1
        self._pending.append((index, len(piece), cid,
                              self._pool.submit(_encode, self._codec, self._cipher, index, piece, digest)))
        while len(self._pending) > 2 * self._workers:
            self._drain_one()

    def _drain_one(self) -> None:
        index, size, cid, future = self._pending.popleft()
        payload, digest = future.result()
        offset, _ = self._writer.write_frame(KIND_CHUNK, index, payload)
        self.chunks.append(ChunkRecord(index, offset, len(payload), size, digest, cid))

    def cut(self) -> int:
        """End the current chunk here, whatever the chunker would do; return the sequence position.

        The dialect calls it at boundaries of its own (a key range of a
        table), so a later backup can reuse exactly the chunks between two
        cuts (:meth:`reuse_base`) when it proves those bytes unchanged.
        """
        if self.index is None:
            raise BackupError("cut() needs a chunk index (chainable backups only)")
        rest = self._chunker.flush()
        if rest:
            self._submit(rest)
        self._settle()
        return len(self.index.sequence)

    def reuse_base(self, start: int, end: int) -> None:
        """Append the base's sequence entries ``start:end`` without their bytes (they are unchanged)."""
        index = self.index
        if index is None or not 0 <= start <= end <= len(index.base_sequence):
            raise BackupError(f"the dump asked to reuse span {start}:{end} of a base sequence of "
                              f"{0 if index is None else len(index.base_sequence)} chunks")
        rest = self._chunker.flush()  # the span starts a chunk: bytes written since the last cut end theirs
        if rest:
            self._submit(rest)
        self._settle()
        for ref, frame, cid in index.base_sequence[start:end]:
            size = index.facts[cid][1]
            index.sequence.append([ref, frame, cid])
            index.reused_bytes += size
            self.plain_size += size
        self.hash_complete = False
        if self._progress is not None:
            self._progress(self.plain_size)

    def sequence_sha256(self) -> str | None:
        """SHA-256 over the plain SHA-256 of every chunk of the sequence, in order (after :meth:`finish`)."""
        if self.index is None:
            return None
        facts = dict(self.index.facts)
        facts.update((c.id, (c.sha256, c.plain_size)) for c in self.chunks if c.id is not None)
        return sequence_digest(facts[cid][0] for _ref, _frame, cid in self.index.sequence)

    def finish(self) -> None:
        """Flush the last partial chunk and wait for every frame to be written."""
        rest = self._chunker.flush()
        if rest:
            self._submit(rest)
        self._settle()
        while self._pending:
            self._drain_one()
        while self._hashing:
            self._hashing.popleft().result()
        self._pool.shutdown()
        self._hasher.shutdown()

    def abort(self) -> None:
        """Drop pending work after a failure."""
        for *_, future in self._pending:
            future.cancel()
        for _piece, identified in self._unplaced:
            identified.cancel()
        self._pending.clear()
        self._unplaced.clear()
        self._pool.shutdown(cancel_futures=True)
        self._hasher.shutdown(cancel_futures=True)

    @property
    def plain_sha256(self) -> str:
        return self._plain_hash.hexdigest()


def sequence_digest(chunk_sha256s: Iterator[str] | list[str]) -> str:
    """The stream digest of a chunk sequence: SHA-256 of the chunks' plain SHA-256 digests, concatenated.

    Each chunk's digest is checked when it is decoded, so this pins every
    byte of the stream and its order as the whole-stream SHA-256 does, but
    can be computed from the chunk records alone: an incremental that reuses
    a span of its base without reading it still gets one.
    """
    total = hashlib.sha256()
    for digest in chunk_sha256s:
        total.update(bytes.fromhex(digest))
    return total.hexdigest()


def seal_json(writer: ArchiveWriter, cipher: FrameCipher | None, kind: bytes, index: int,
              value: dict[str, Any]) -> None:
    """Write a JSON frame (manifest, end marker), sealed when encrypting."""
    payload = json.dumps(value, sort_keys=True).encode()
    if cipher is not None:
        payload = cipher.seal(kind, index, payload)
    writer.write_frame(kind, index, payload)


# -- reading ---------------------------------------------------------------------------------------


@dataclass
class OpenedArchive:
    """An archive whose header has been read and whose key (if any) has been unwrapped."""

    path: str
    core: dict[str, Any]
    header: dict[str, Any]
    codec: Codec
    cipher: FrameCipher | None
    manifest: dict[str, Any] = field(default_factory=dict)
    file_sha256: str = ""
    #: Where the first frame starts: a key rotation rewrites the header, so it can move.
    data_start: int = 0


def open_archive(path: str | os.PathLike[str], encryption: EncryptionSettings | None,
                 *, need_key: bool = True) -> OpenedArchive:
    """Read and check the header; unwrap the data key when the archive is encrypted."""
    with open(path, "rb") as f:
        reader = ArchiveReader(f, where=str(path))
    core = reader.core
    comp = core.get("compression", {})
    codec = get_codec(str(comp.get("codec", "none")), int(comp.get("level", 0)) or None)
    cipher = None
    if core.get("encryption"):
        if encryption is None:
            if need_key:
                raise EncryptionError(f"backup {core.get('backup_id')} is encrypted; supply its passphrase or key "
                                      "(--passphrase-env, --key-file or DBKEEPER_BACKUP_KEY)")
        else:
            keys = reader.header.get("keys") or []
            data_key = None
            last: EncryptionError | None = None
            for entry in keys:
                try:
                    kek = derive_kek(encryption, entry["kdf"])
                    data_key = unwrap_key(kek, entry["wrap"], reader.digest)
                    break
                except EncryptionError as exc:
                    last = exc
            if data_key is None:
                raise last or EncryptionError("the backup header holds no wrapped key")
            cipher = FrameCipher(data_key, reader.digest)
    return OpenedArchive(str(path), core, reader.header, codec, cipher, data_start=reader.offset)


def _open_json(archive: OpenedArchive, kind: bytes, index: int, payload: bytes) -> dict[str, Any]:
    if archive.cipher is not None:
        payload = archive.cipher.open(kind, index, payload)
    try:
        value = json.loads(payload)
    except ValueError:
        raise CorruptBackupError(f"{archive.path}: frame {index} is not valid JSON") from None
    if not isinstance(value, dict):
        raise CorruptBackupError(f"{archive.path}: frame {index} is not a JSON object")
    return value


def scan(archive: OpenedArchive, *, progress: Progress | None = None, data: bool = True) -> dict[str, Any]:
    """Quick pass: every stored-bytes hash, the frame order, the completion marker.

    Returns the manifest (when the key is available or the archive is not
    encrypted; otherwise an empty dict) and records the file's SHA-256.
    ``data=False`` seeks past the chunks instead of hashing them: the
    structure, manifest and completion marker are still checked, the file's
    SHA-256 is not known (left empty).
    """
    manifest: dict[str, Any] = {}
    chunks = 0
    with open(archive.path, "rb", buffering=1 << 20 if data else 1 << 16) as f:
        reader = ArchiveReader(f, where=archive.path)
        for frame in reader.frames(skip_chunks=not data):
            if progress is not None:
                progress(reader.offset)
            if frame.kind == KIND_CHUNK:
                chunks += 1
            elif frame.kind == KIND_MANIFEST and (archive.cipher is not None or not archive.core.get("encryption")):
                manifest = _open_json(archive, frame.kind, frame.index, frame.payload)
            elif frame.kind == KIND_END and manifest:
                end = _open_json(archive, frame.kind, frame.index, frame.payload)
                if end.get("chunks") != chunks or end.get("manifest_chunks") != len(manifest.get("chunks", [])):
                    raise CorruptBackupError(f"{archive.path}: the completion marker does not match the chunks")
        archive.file_sha256 = reader.sha256 if data else ""
    if manifest and len(manifest.get("chunks", [])) != chunks:
        raise CorruptBackupError(f"{archive.path}: manifest lists {len(manifest['chunks'])} chunks, file has {chunks}")
    archive.manifest = manifest
    return manifest


def _decode(archive: OpenedArchive, index: int, payload: bytes, record: dict[str, Any]) -> bytes:
    if archive.cipher is not None:
        payload = archive.cipher.open(KIND_CHUNK, index, payload)
    plain = archive.codec.decompress(payload, int(record["plain_size"]))
    if len(plain) != record["plain_size"] or hashlib.sha256(plain).hexdigest() != record["sha256"]:
        raise CorruptBackupError(f"{archive.path}: chunk {index} does not match its SHA-256 after decoding")
    return plain


def plain_chunks(archive: OpenedArchive, *, workers: int | None = None, progress: Progress | None = None,
                 rescan: bool = True) -> Iterator[bytes]:
    """The verified plain stream, chunk by chunk, decoded in parallel with bounded read-ahead.

    Needs :func:`scan` first (for the manifest). Every chunk is checked
    (authentication, codec checksum, plain SHA-256 against the manifest)
    before it is yielded. With ``rescan`` (verification) the frame digests and
    the whole plain stream's SHA-256 are checked again too; a restore, which
    has just run :func:`scan`, skips those two redundant passes: the
    per-chunk plain SHA-256 already pins every byte it hands on. A manifest
    without ``plain_sha256`` (an incremental that happens to store every
    chunk of its stream itself) is checked against ``sequence_sha256``.
    """
    records = archive.manifest["chunks"]
    expected = archive.manifest.get("plain_sha256")
    if rescan and expected is None:
        if sequence_digest([r["sha256"] for r in records]) != archive.manifest.get("sequence_sha256"):
            raise CorruptBackupError(f"{archive.path}: the chunk list does not match the manifest's sequence digest")
        rescan_stream = False
    else:
        rescan_stream = rescan
    total_hash = hashlib.sha256()
    n = workers or default_workers()
    done = 0
    with open(archive.path, "rb", buffering=1 << 20) as f, \
            ThreadPoolExecutor(n, thread_name_prefix="dbkeeper-restore") as pool:
        reader = ArchiveReader(f, where=archive.path)
        pending: deque[Future[bytes]] = deque()
        frames = reader.frames(check_digests=rescan)
        for frame in frames:
            if frame.kind != KIND_CHUNK:
                break
            pending.append(pool.submit(_decode, archive, frame.index, frame.payload, records[frame.index]))
            if len(pending) > 2 * n:
                plain = pending.popleft().result()
                if rescan_stream:
                    total_hash.update(plain)
                done += len(plain)
                if progress is not None:
                    progress(done)
                yield plain
        for rest in frames:  # check the structure to the end (manifest, marker, nothing appended)
            del rest
        while pending:
            plain = pending.popleft().result()
            if rescan_stream:
                total_hash.update(plain)
            done += len(plain)
            if progress is not None:
                progress(done)
            yield plain
    if rescan_stream and total_hash.hexdigest() != expected:
        raise CorruptBackupError(f"{archive.path}: the restored stream does not match its SHA-256")


class PlainStream(io.RawIOBase):
    """A readable binary stream over :func:`plain_chunks`, handed to the restore hook."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buffer = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        while self._pos >= len(self._buffer):
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._buffer, self._pos = nxt, 0
        n = min(len(view), len(self._buffer) - self._pos)
        view[:n] = self._buffer[self._pos:self._pos + n]
        self._pos += n
        return n
