"""The steps of ``BackupManager.create_backup``, each one named and testable on its own.

1. :func:`check_settings` - the request's own settings (type, codec, key):
   refused before a connection is opened;
2. :func:`plan_backup` - with the source connected: the dialect's abilities,
   the backup type it becomes, the base and chunking (:class:`Plan`);
3. :func:`seal_header` - the header's core and key slots, and the cipher;
4. :func:`write_archive` - dump into the sink, then the manifest (built by
   :class:`~dbkeeper.backup.archive.ManifestBuilder`) and the end marker,
   into any binary stream: a local partial file, or one that also feeds
   repository uploads;
5. :func:`catalog_entry` - the :class:`Backup` the catalog records.

The manager keeps what ties them to the workspace (the partial file, its
fsync and rename, the catalog insert and the cleanup on failure), so a
destination other than a file reuses steps 1-4 unchanged.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from dbkeeper.backup.archive import (
    KIND_END,
    KIND_MANIFEST,
    ArchiveWriter,
    ManifestBuilder,
    core_digest,
    end_marker,
    new_core,
    public_kdf,
)
from dbkeeper.backup.catalog import BackupSet, Catalog
from dbkeeper.backup.chunking import make_chunker
from dbkeeper.backup.codecs import Codec, get_codec
from dbkeeper.backup.crypto import (
    CIPHER,
    EncryptionSettings,
    FrameCipher,
    derive_kek,
    new_data_key,
    new_kdf_section,
    validate,
    wrap_key,
)
from dbkeeper.backup.errors import BackupError
from dbkeeper.backup.incremental import Base, NoUsableBaseError, base_is_encrypted, chain_base
from dbkeeper.backup.models import Backup
from dbkeeper.backup.pipeline import DEFAULT_CHUNK_SIZE, ChunkIndex, ChunkSink, seal_json
from dbkeeper.urls import DatabaseURL

Progress = Callable[[int], None]
BACKUP_TYPES = ("full", "incremental", "differential")


def new_backup_id() -> str:
    """Sortable, unique, filename-safe: ``20260101T120000Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def encryption_from(encryption: EncryptionSettings | None, passphrase: str | None,
                    key_file: Any) -> EncryptionSettings | None:
    """Combine the convenience arguments into one :class:`EncryptionSettings` (or ``None``)."""
    if encryption is not None:
        return encryption
    if passphrase is not None or key_file is not None:
        return EncryptionSettings(passphrase=passphrase, key_file=key_file)
    return None


@dataclass(frozen=True)
class Settings:
    """The request's own settings, checked: what can be refused without a server."""

    backup_type: str
    codec: Codec
    encryption: EncryptionSettings | None
    include_schema: bool
    include_data: bool


def check_settings(backup_type: str, compression: str, *, compression_level: int | None, include_schema: bool,
                   include_data: bool, encryption: EncryptionSettings | None) -> Settings:
    """Step 1: refuse an unknown type, nothing to back up, an unknown codec or an unusable key."""
    if backup_type not in BACKUP_TYPES:
        raise BackupError(f"unknown backup_type {backup_type!r}; use one of {', '.join(BACKUP_TYPES)}")
    if not (include_schema or include_data):
        raise BackupError("include_schema and include_data are both false: nothing to back up")
    codec = get_codec(compression, compression_level)
    if encryption is not None:
        validate(encryption)
    return Settings(backup_type, codec, encryption, include_schema, include_data)


@dataclass
class Plan:
    """Everything decided before the first byte is dumped."""

    backup_id: str
    database_name: str
    url: DatabaseURL
    connection: Any
    dialect: Any
    backup_set: BackupSet
    settings: Settings
    encryption: EncryptionSettings | None
    #: What was asked for, and what it became (a full when there is no usable base).
    requested: str
    backup_type: str
    chainable: bool
    base: Base | None
    #: Why there is no base (the backup became a full), else ``None``.
    no_base: str | None
    chunking: dict[str, Any]
    index: ChunkIndex
    created: datetime

    @property
    def secrets(self) -> list[str | None]:
        """What must never appear in a message about this backup."""
        return [self.url.password, *(self.encryption.secrets() if self.encryption else [])]


def plan_backup(catalog: Catalog, settings: Settings, database_name: str, url: DatabaseURL, connection: Any, *,
                chainable: bool | None, chunk_size: int | None,
                key_source: Callable[[], EncryptionSettings | None] | None) -> Plan:
    """Step 2: with the source's dialect known, decide type, chainability, base and chunking."""
    dialect = connection.dialect
    backup_type = settings.backup_type
    if not dialect.capabilities.dump:
        raise BackupError(f"dialect {dialect.name!r} cannot dump databases; check `dbkeeper plugins`")
    supports_chains = bool(getattr(dialect.capabilities, "incremental", False))
    if chainable and not supports_chains:
        raise BackupError(f"dialect {dialect.name!r} cannot make chainable backups (its plugin does not declare "
                          "the 'incremental' capability)")
    if backup_type != "full":
        chainable = True
    elif chainable is None:
        chainable = supports_chains and bool(getattr(dialect, "chainable_fulls_by_default", False))
    if backup_type != "full" and not supports_chains:
        raise BackupError(f"dialect {dialect.name!r} does not support {backup_type} backups (its plugin does not "
                          "declare the 'incremental' capability); take a full backup instead")
    backup_id = new_backup_id()
    backup_set = BackupSet.of(url, dialect.name, database_name, dialect.default_port)
    enc = settings.encryption
    if enc is None and key_source is not None and backup_type != "full" and \
            base_is_encrypted(catalog, database_name, backup_type, dialect.name, backup_set):
        enc = key_source()
        if enc is not None:
            validate(enc)
    base, no_base = choose_base(catalog, database_name, backup_type, dialect=dialect.name, enc=enc,
                                 backup_id=backup_id, backup_set=backup_set)
    if base is not None:
        chunking, index = base.chunking, base.index
    else:
        chunking = _chunking(dialect, bool(chainable), chunk_size)
        index = ChunkIndex(backup_id, secrets.token_bytes(32))
    return Plan(backup_id, database_name, url, connection, dialect, backup_set, settings, enc, backup_type,
                "full" if no_base is not None else backup_type, bool(chainable), base, no_base, chunking, index,
                datetime.now(UTC))


def choose_base(catalog: Catalog, database_name: str, backup_type: str, *, dialect: str,
                enc: EncryptionSettings | None, backup_id: str,
                backup_set: BackupSet) -> tuple[Base | None, str | None]:
    """The base of a new ``backup_type`` backup, or why there is none to use.

    With no usable base (none yet, or not chainable: see
    :class:`~dbkeeper.backup.incremental.NoUsableBaseError`) the backup
    becomes a chainable full, as pgBackRest does, instead of an error:
    that full is what the user would have been told to take.
    """
    if backup_type == "full":
        return None, None
    try:
        return chain_base(catalog, database_name, backup_type, dialect, encryption=enc,
                          new_id=backup_id, backup_set=backup_set), None
    except NoUsableBaseError as exc:
        return None, str(exc)


def _chunking(dialect: Any, chainable: bool, chunk_size: int | None) -> dict[str, Any]:
    """The chunking of a new full backup: the dialect's (``chunk_size`` as its size or average), else fixed."""
    if not chainable:
        return {"kind": "fixed", "size": chunk_size or DEFAULT_CHUNK_SIZE}
    spec = dict(dialect.incremental_chunking())
    if chunk_size is not None:
        if spec.get("kind") == "lines":
            spec = {"kind": "lines", "average": chunk_size}
        else:
            spec = {"kind": "fixed", "size": chunk_size}
    return spec


def seal_header(plan: Plan) -> tuple[dict[str, Any], FrameCipher | None]:
    """Step 3: the archive header (core and key slots) and the frame cipher, when encrypting."""
    chunking = plan.chunking
    codec = plan.settings.codec
    core = new_core(backup_id=plan.backup_id, created_at=plan.created.isoformat(), backup_type=plan.backup_type,
                    parent_id=plan.base.backup_id if plan.base else None, database_type=plan.dialect.db_type,
                    dialect=plan.dialect.name,
                    chunk_size=int(chunking.get("size") or chunking.get("maximum") or DEFAULT_CHUNK_SIZE),
                    compression={"codec": codec.name, "level": codec.level}, encrypted=plan.encryption is not None,
                    cipher=CIPHER)
    header: dict[str, Any] = {"core": core, "keys": None}
    if plan.encryption is None:
        return header, None
    kdf = new_kdf_section(plan.encryption)
    data_key = new_data_key()
    digest = core_digest(core)
    header["keys"] = [{"kdf": kdf, "wrap": wrap_key(derive_kek(plan.encryption, kdf), data_key, digest)}]
    return header, FrameCipher(data_key, digest)


@dataclass
class Written:
    """What :func:`write_archive` produced: the archive's digest and what the catalog records of it."""

    sha256: str
    size: int
    manifest: dict[str, Any]
    dump_meta: dict[str, Any]
    stored_chunks: int


def write_archive(plan: Plan, out: IO[bytes], header: dict[str, Any], cipher: FrameCipher | None, *,
                  workers: int | None, progress: Progress | None,
                  on_sink: Callable[[ChunkSink], None] | None = None) -> Written:
    """Step 4: header, every chunk of the dump, the manifest and the end marker, written to ``out``.

    ``on_sink`` is told the sink before the dump starts (the manager aborts
    it on failure). ``out`` is flushed, not synced: making it durable is the
    destination's business.
    """
    writer = ArchiveWriter(out, header)
    chunker = make_chunker(plan.chunking)
    index = plan.index
    sink = ChunkSink(writer, plan.settings.codec, cipher, workers=workers, progress=progress, chunker=chunker,
                     index=index)
    if on_sink is not None:
        on_sink(sink)
    url = plan.url
    builder = ManifestBuilder(
        core=header["core"], database_name=plan.database_name,
        location={"scheme": url.scheme, "host": url.host, "port": url.port, "database": url.database,
                  "username": url.username},
        include_schema=plan.settings.include_schema, include_data=plan.settings.include_data,
        encryption=public_kdf(header, CIPHER), data_offset=writer.offset)
    result = plan.dialect.dump(plan.connection, sink, {
        "include_schema": plan.settings.include_schema, "include_data": plan.settings.include_data,
        "backup_type": plan.backup_type, "chainable": plan.chainable, "workers": workers,
        "base_dump": plan.base.dump if plan.base else None})
    dump_meta = dict(result or {})
    sink.finish()
    builder.dumped(dump_meta)
    builder.stored(chunks=[c.to_dict() for c in sink.chunks], chunking=chunker.spec,
                   chunk_key=base64.b64encode(index.key).decode(), chunk_id=index.id_scheme,
                   sequence=index.sequence, reused_bytes=index.reused_bytes, plain_size=sink.plain_size,
                   plain_sha256=sink.plain_sha256 if sink.hash_complete else None,
                   sequence_sha256=sink.sequence_sha256())
    manifest = builder.build(datetime.now(UTC).isoformat())
    n = len(sink.chunks)
    seal_json(writer, cipher, KIND_MANIFEST, n, manifest)
    seal_json(writer, cipher, KIND_END, n + 1, end_marker(n))
    out.flush()
    return Written(writer.sha256, writer.offset, manifest, dump_meta, n)


def catalog_entry(plan: Plan, written: Written, file_path: str) -> Backup:
    """Step 5: the catalog's record of the finished archive at ``file_path``."""
    dump_meta = written.dump_meta
    codec = plan.settings.codec
    s = plan.settings
    return Backup(
        backup_id=plan.backup_id, database_name=plan.database_name, database_type=plan.dialect.db_type,
        backup_type=plan.backup_type, file_path=file_path, size_mb=round(written.size / (1 << 20), 3),
        created_at=plan.created, compression=codec.name, encryption=plan.encryption is not None,
        checksum=f"sha256:{written.sha256}",
        metadata={"dialect": plan.dialect.name, "plain_sha256": written.manifest["plain_sha256"],
                  "server_version": dump_meta.get("server_version"), "tool": dump_meta.get("tool"),
                  "tool_version": dump_meta.get("tool_version"), "include_schema": s.include_schema,
                  "include_data": s.include_data, "compression_level": codec.level,
                  "reused_bytes": plan.index.reused_bytes, "chunks": len(plan.index.sequence),
                  "stored_chunks": written.stored_chunks, "chainable": bool(dump_meta.get("chainable", False)),
                  "dump_format": dump_meta.get("format")},
    )


def references(plan: Plan) -> set[str]:
    """The other backups whose archives hold chunks this one references (its restore dependencies)."""
    return {entry[0] for entry in plan.index.sequence} - {plan.backup_id}
