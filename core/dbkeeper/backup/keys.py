"""Key rotation: re-wrap a backup's data key without touching its chunks.

The frames are bound to the header *core* digest, not to the key section, so
a new header with the data key wrapped under a new passphrase or key file
is followed by the very same frame bytes. A header may hold several key
slots (each the same data key wrapped under a different key); a reader tries
them in turn, so a new key can be added first and the old slots removed later. The new file is written next to
the old one (0600), fsynced and renamed over it; the catalog checksum is
updated in the same step.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dbkeeper.backup import files
from dbkeeper.backup.archive import MAGIC, ArchiveReader, canonical_json
from dbkeeper.backup.catalog import Catalog
from dbkeeper.backup.crypto import EncryptionSettings, derive_kek, new_kdf_section, unwrap_key, validate, wrap_key
from dbkeeper.backup.errors import EncryptionError


def rotate_key(catalog: Catalog, backup_id: str, old: EncryptionSettings, new: EncryptionSettings, *,
               keep_old: bool = False) -> str:
    """Re-wrap the data key of ``backup_id`` from ``old`` to ``new``; return the new file checksum.

    With ``keep_old`` the existing key slots stay (the backup then opens with
    either key, which is how a rotation is rolled out before the old key is
    retired); without it the new slot replaces them all.
    """
    validate(new)
    backup = catalog.get(backup_id)
    path = Path(backup.file_path)
    with open(path, "rb") as f:
        reader = ArchiveReader(f, where=str(path))
        data_start = reader.offset
    header = reader.header
    if not reader.core.get("encryption"):
        raise EncryptionError(f"backup {backup_id} is not encrypted; there is no key to rotate")
    data_key = None
    for entry in header.get("keys") or []:
        try:
            data_key = unwrap_key(derive_kek(old, entry["kdf"]), entry["wrap"], reader.digest)
            break
        except EncryptionError:
            continue
    if data_key is None:
        raise EncryptionError(f"wrong passphrase or key for backup {backup_id}; cannot rotate its key")
    kdf = new_kdf_section(new)
    slot = {"kdf": kdf, "wrap": wrap_key(derive_kek(new, kdf), data_key, reader.digest)}
    header = {**header, "keys": [*(header.get("keys") or [] if keep_old else []), slot]}
    body = canonical_json(header)
    partial = files.partial_path(path.parent, backup_id)
    digest = hashlib.sha256()
    fd = files.create_private(partial)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            head = MAGIC + len(body).to_bytes(4, "big") + body + hashlib.sha256(body).digest()
            out.write(head)
            digest.update(head)
            src.seek(data_start)
            while piece := src.read(1 << 20):
                out.write(piece)
                digest.update(piece)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
        files.fsync_dir(path.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    checksum = f"sha256:{digest.hexdigest()}"
    catalog.set_checksum(backup_id, checksum, path.stat().st_size)
    return checksum


__all__ = ["rotate_key"]
