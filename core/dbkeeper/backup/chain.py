"""Chains: the archives an incremental or differential backup needs, and its plain stream.

An incremental or differential archive (format version 2) stores only the
chunks its base lacked; its manifest's ``sequence`` lists every chunk of
the plain dump in order as ``[backup id, frame index, chunk id]``, pointing
into its own archive or into the archive of an older backup that stores
that chunk. :func:`resolve` opens and scans every archive the sequence
names (stored-bytes digests, completion marker, whole-file SHA-256 against
the catalog, chunk ids) before anything reaches a restore target, so a
missing or damaged parent is a :class:`ChainError` up front;
:func:`sequence_chunks` then reads each chunk from its archive (``pread``,
so worker threads share the files), checks its frame digest, decrypts it
with that archive's own data key, decompresses it and checks its SHA-256;
at the end the whole stream is checked against the manifest's
``plain_sha256`` and its chunk list against ``sequence_sha256`` (an
incremental that reused spans of its base without reading them has only
the latter).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbkeeper.backup.archive import KIND_CHUNK, core_digest, frame_digest
from dbkeeper.backup.catalog import Catalog
from dbkeeper.backup.crypto import EncryptionSettings
from dbkeeper.backup.errors import BackupNotFoundError, ChainError, CorruptBackupError, EncryptionError
from dbkeeper.backup.models import Backup
from dbkeeper.backup.pipeline import OpenedArchive, Progress, default_workers, open_archive, scan, sequence_digest

_HEAD = struct.Struct(">cQI")


@dataclass
class Chain:
    """A scanned backup and every archive its plain stream reads from."""

    backup_id: str
    manifest: dict[str, Any]
    archives: dict[str, OpenedArchive] = field(default_factory=dict)

    @property
    def chained(self) -> bool:
        """Whether the stream must be read through ``sequence`` (it is not simply this archive's frames)."""
        sequence = self.manifest.get("sequence")
        if not sequence:
            return False
        return [tuple(e[:2]) for e in sequence] != [(self.backup_id, i) for i in range(len(self.manifest["chunks"]))]


def check_checksum(backup: Backup, sha256: str) -> None:
    """The file must be the one the catalog recorded (not rewritten or swapped since)."""
    if backup.checksum != f"sha256:{sha256}":
        raise CorruptBackupError(f"backup {backup.backup_id}: the file's SHA-256 differs from the catalog's "
                                 f"({backup.file_path} was changed after it was written)")


def open_scanned(backup: Backup, encryption: EncryptionSettings | None, *, need_key: bool = True,
                 data: bool = True) -> OpenedArchive:
    """Open one archive, check every stored byte and its catalog checksum.

    ``data=False`` checks its structure, manifest and completion marker and
    that its size is the catalog's, without reading the chunks.
    """
    archive = open_archive(backup.file_path, encryption, need_key=need_key)
    scan(archive, data=data)
    if data:
        check_checksum(backup, archive.file_sha256)
    elif os.path.getsize(backup.file_path) != int(backup.metadata.get("size_bytes", -1)):
        raise CorruptBackupError(f"backup {backup.backup_id}: {backup.file_path} is not the size the catalog "
                                 "recorded (it was changed after it was written)")
    return archive


def _dependency(catalog: Catalog, child: str, ref: str, encryption: EncryptionSettings | None,
                *, need_key: bool, data: bool) -> OpenedArchive:
    try:
        backup = catalog.get(ref)
    except BackupNotFoundError:
        raise ChainError(f"backup {child} needs backup {ref}, which is not in the catalog (deleted?); "
                         "this backup cannot be restored") from None
    if not Path(backup.file_path).is_file():
        raise ChainError(f"backup {child} needs backup {ref}, whose archive {backup.file_path} is missing") from None
    try:
        return open_scanned(backup, encryption, need_key=need_key, data=data)
    except EncryptionError as exc:
        raise ChainError(f"backup {child} needs backup {ref}, which does not open with the key given: {exc}") \
            from None
    except CorruptBackupError as exc:
        raise ChainError(f"backup {child} needs backup {ref}, which is damaged: {exc}") from None


def resolve(catalog: Catalog, backup: Backup, encryption: EncryptionSettings | None, *,
            need_key: bool = True, data: bool = True) -> Chain:
    """Scan ``backup`` and every archive it reads from; raise before any byte is restored.

    ``data=False`` (the base of a new incremental, which needs the manifests
    only) checks each archive's structure, manifest, completion marker and
    size but not its chunks' bytes: those are checked when a restore or
    ``verify`` reads them.
    """
    archive = open_scanned(backup, encryption, need_key=need_key, data=data)
    chain = Chain(backup.backup_id, archive.manifest, {backup.backup_id: archive})
    if not archive.manifest:  # encrypted and no key (quick verification): check what the catalog knows
        for ref in sorted(catalog.depends_on(backup.backup_id)):
            chain.archives[ref] = _dependency(catalog, backup.backup_id, ref, encryption, need_key=need_key, data=data)
        return chain
    sequence = archive.manifest.get("sequence") or []
    for ref in sorted({entry[0] for entry in sequence} - {backup.backup_id}):
        chain.archives[ref] = _dependency(catalog, backup.backup_id, ref, encryption, need_key=need_key, data=data)
    for position, (ref, frame, cid) in enumerate(sequence):
        chunks = chain.archives[ref].manifest.get("chunks") or []
        if not (0 <= frame < len(chunks)) or chunks[frame].get("id") != cid:
            raise ChainError(f"backup {backup.backup_id}: chunk {position} should be frame {frame} of backup {ref}, "
                             "which holds other data; the chain is inconsistent")
    return chain


def _read_chunk(fd: int, archive: OpenedArchive, digest: bytes, record: dict[str, Any]) -> bytes:
    # Offsets are recorded as written; a key rotation since may have resized the header.
    shift = archive.data_start - int(archive.manifest.get("data_offset", archive.data_start))
    offset, length = int(record["offset"]) + shift, int(record["stored_size"])
    raw = os.pread(fd, _HEAD.size + length + 32, offset)
    if len(raw) != _HEAD.size + length + 32:
        raise CorruptBackupError(f"{archive.path} is truncated inside frame {record['index']}")
    kind, index, stored_length = _HEAD.unpack_from(raw)
    payload = raw[_HEAD.size:_HEAD.size + length]
    if (kind != KIND_CHUNK or index != record["index"] or stored_length != length
            or frame_digest(digest, kind, index, payload) != raw[-32:]):
        raise CorruptBackupError(f"{archive.path}: frame {record['index']} failed its SHA-256 check")
    if archive.cipher is not None:
        payload = archive.cipher.open(KIND_CHUNK, index, payload)
    plain = archive.codec.decompress(payload, int(record["plain_size"]))
    if len(plain) != record["plain_size"] or hashlib.sha256(plain).hexdigest() != record["sha256"]:
        raise CorruptBackupError(f"{archive.path}: chunk {index} does not match its SHA-256 after decoding")
    return plain


def sequence_chunks(chain: Chain, *, workers: int | None = None, progress: Progress | None = None) -> Iterator[bytes]:
    """The verified plain stream of a chained backup, decoded in parallel with bounded read-ahead."""
    n = workers or default_workers()
    digests = {ref: core_digest(a.core) for ref, a in chain.archives.items()}
    expected_stream = chain.manifest.get("plain_sha256")
    expected_sequence = chain.manifest.get("sequence_sha256")
    if not expected_stream and not expected_sequence:
        raise CorruptBackupError(f"backup {chain.backup_id}: the manifest holds no digest of its stream")
    fds = {ref: os.open(a.path, os.O_RDONLY) for ref, a in chain.archives.items()}
    total = hashlib.sha256()
    listed: list[str] = []
    done = 0
    try:
        with ThreadPoolExecutor(n, thread_name_prefix="dbkeeper-restore") as pool:
            pending: deque[Future[bytes]] = deque()

            def take() -> bytes:
                nonlocal done
                plain = pending.popleft().result()
                if expected_stream:
                    total.update(plain)
                done += len(plain)
                if progress is not None:
                    progress(done)
                return plain

            for ref, frame, _ in chain.manifest["sequence"]:
                archive = chain.archives[ref]
                record = archive.manifest["chunks"][frame]
                listed.append(record["sha256"])  # _read_chunk checks the chunk against it
                pending.append(pool.submit(_read_chunk, fds[ref], archive, digests[ref], record))
                if len(pending) > 2 * n:
                    yield take()
            while pending:
                yield take()
    finally:
        for fd in fds.values():
            os.close(fd)
    if expected_stream and total.hexdigest() != expected_stream:
        raise CorruptBackupError(f"backup {chain.backup_id}: the reassembled stream does not match its SHA-256")
    if expected_sequence and sequence_digest(listed) != expected_sequence:
        raise CorruptBackupError(f"backup {chain.backup_id}: the reassembled stream does not match its sequence "
                                 "digest")
