"""Where dbkeeper keeps its own state: catalogs, metrics, locks and keys.

Resolution order: the ``workspace_dir`` argument of an API, else the
``DBKEEPER_WORKSPACE`` environment variable, else a per-user default
(``$XDG_DATA_HOME/dbkeeper``, ``~/.local/share/dbkeeper`` on Linux,
``~/Library/Application Support/dbkeeper`` on macOS, ``%LOCALAPPDATA%\\dbkeeper``
on Windows). The directory is created with mode 0700 because it holds backups
and keys.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "DBKEEPER_WORKSPACE"


def default_workspace() -> Path:
    """Return the per-user default workspace directory (not created)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "dbkeeper"


def resolve_workspace(workspace_dir: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """Return the workspace directory to use, creating it (0700) unless ``create`` is false."""
    if workspace_dir is not None:
        path = Path(workspace_dir)
    elif os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR])
    else:
        path = default_workspace()
    path = path.expanduser().resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
