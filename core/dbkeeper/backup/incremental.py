"""Choosing and opening the base of an incremental or differential backup.

* incremental: the latest backup of the set, of any type (so a chain
  full <- inc <- inc ... stores each change once);
* differential: the latest *full* backup (each differential holds
  everything changed since it, so a restore needs only two archives).

The new backup reuses the base's chunk key and chunking (otherwise equal
content would get other names or other boundaries) and learns every chunk
id of the base's stream with the archive that stores it, the plain SHA-256
and size of each, and the base's sequence and dump metadata: a dialect that
can prove a part of its dump unchanged since the base appends that part's
span of the base's sequence instead of exporting it again. The base must open
with the same key as the new backup: an encrypted chain is encrypted
throughout, and an unencrypted base cannot carry an encrypted backup's data.

A set with no base at all, or whose base cannot carry a chain (a schema-only
or data-only dump, a full taken with ``chainable=False``, an archive made by
a dbkeeper without chunk ids), raises :class:`NoUsableBaseError`: the
manager then takes a chainable full backup instead and says so in its
warnings (as pgBackRest does), since that full is exactly what the user
would be told to take. A base that is there but damaged, or whose
encryption does not match, stays a :class:`ChainError`: those need a person.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from dbkeeper.backup.catalog import BackupSet, Catalog
from dbkeeper.backup.chain import resolve
from dbkeeper.backup.chunking import LEGACY_ID_SCHEME
from dbkeeper.backup.crypto import EncryptionSettings
from dbkeeper.backup.errors import BackupError, ChainError
from dbkeeper.backup.models import Backup
from dbkeeper.backup.pipeline import ChunkIndex


class NoUsableBaseError(ChainError):
    """The set has no backup an incremental or differential can build on (the manager takes a full instead)."""


@dataclass
class Base:
    """The backup a new incremental or differential builds on."""

    backup_id: str
    chunking: dict[str, Any]
    index: ChunkIndex
    #: The base's dump metadata: a dialect reads what it recorded there (key ranges, snapshot) to skip
    #: what did not change since.
    dump: dict[str, Any]


def _candidates(catalog: Catalog, database_name: str, backup_type: str, dialect: str,
                backup_set: BackupSet | None = None) -> list[Backup]:
    """The backups a new ``backup_type`` backup could build on, oldest first (the base is the last).

    With ``backup_set``, only that set's backups qualify: a chain never
    builds on another server's database of the same name.
    """
    candidates = [b for b in catalog.list(database_name, backup_set)
                  if b.metadata.get("dialect") == dialect and b.metadata.get("status") != "damaged"]
    if backup_type == "differential":
        candidates = [b for b in candidates if b.backup_type == "full"]
    return candidates


def base_is_encrypted(catalog: Catalog, database_name: str, backup_type: str, dialect: str,
                      backup_set: BackupSet | None = None) -> bool:
    """Whether the base a new ``backup_type`` backup would build on is encrypted (so it needs that key)."""
    candidates = _candidates(catalog, database_name, backup_type, dialect, backup_set)
    return bool(candidates) and candidates[-1].encryption


def chain_base(catalog: Catalog, database_name: str, backup_type: str, dialect: str, *,
               encryption: EncryptionSettings | None, new_id: str, backup_set: BackupSet | None = None) -> Base:
    """Find, check and index the base of a new ``backup_type`` backup of ``database_name`` (within ``backup_set``)."""
    candidates = _candidates(catalog, database_name, backup_type, dialect, backup_set)
    if not candidates:
        kind = "full backup" if backup_type == "differential" else "backup"
        raise NoUsableBaseError(f"no {kind} of {database_name!r} ({dialect}) to build a {backup_type} backup on")
    base = candidates[-1]
    if base.encryption and encryption is None:
        raise ChainError(f"the base backup {base.backup_id} is encrypted; give the {backup_type} backup the "
                         "same key or passphrase")
    if not base.encryption and encryption is not None:
        raise ChainError(f"the base backup {base.backup_id} is not encrypted, so an encrypted {backup_type} "
                         "would leave the data it shares unencrypted; take an encrypted full backup first")
    try:
        chain = resolve(catalog, base, encryption, data=False)
        manifest = chain.manifest
    except ChainError:
        raise
    except BackupError as exc:
        raise ChainError(f"the base backup {base.backup_id} cannot be used: {exc}") from None
    if "chunk_key" not in manifest or "sequence" not in manifest:
        raise NoUsableBaseError(f"the base backup {base.backup_id} was made by an older dbkeeper without chunk ids")
    if not (manifest.get("dump") or {}).get("chainable", True):
        raise NoUsableBaseError(f"the base backup {base.backup_id} is not a chainable dump (a native full: the "
                                "dialect's default or chainable=False / --not-chainable; or a schema-only or "
                                "data-only backup)")
    index = ChunkIndex(new_id, base64.b64decode(manifest["chunk_key"]), chained=True,
                       base_sequence=list(manifest["sequence"]),
                       id_scheme=str(manifest.get("chunk_id") or LEGACY_ID_SCHEME))
    for ref, frame, cid in manifest["sequence"]:
        index.known.setdefault(cid, (ref, frame))
    for archive in chain.archives.values():
        for record in archive.manifest.get("chunks") or []:
            if record.get("id"):
                index.facts[record["id"]] = (record["sha256"], int(record["plain_size"]))
    return Base(base.backup_id, dict(manifest["chunking"]), index, dict(manifest.get("dump") or {}))
