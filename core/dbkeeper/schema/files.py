"""Writing schema files (SQL scripts, JSON dumps) so a crash never leaves half a file.

Text goes to a temporary file next to the target, is fsynced and renamed
over it (replacing an older version, unlike migration files, which are
never overwritten).
"""

from __future__ import annotations

import os
from pathlib import Path

from dbkeeper.schema.errors import SchemaInputError


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a fsynced temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SchemaInputError(f"cannot write {path}: {exc.strerror or exc}") from None
