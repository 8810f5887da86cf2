"""Finding PostgreSQL's client programs (``pg_dump``, ``pg_restore``, ``psql``).

Its own module because both the native dump (``dump.py``) and the ordered,
chainable dump (``incremental.py``) run these programs, and each of those
modules needs the other's entry points.
"""

from __future__ import annotations

import os
from pathlib import Path

from dbkeeper.backup.tools import find_tool, version_tuple

__all__ = ["DEBIAN_BINROOT", "client_tool"]

#: Where Debian's postgresql-common keeps each major version's client programs (what ``pg_wrapper`` runs).
DEBIAN_BINROOT = Path("/usr/lib/postgresql")


def client_tool(name: str, install_hint: str, *, binroot: Path = DEBIAN_BINROOT) -> str:
    """The PostgreSQL client program ``name`` on ``PATH``, without Debian's ``pg_wrapper`` in between.

    On Debian and Ubuntu, ``psql``, ``pg_dump`` and ``pg_restore`` on
    ``PATH`` are links to ``pg_wrapper``, a perl script that picks a version
    and then runs the real program: its start-up was about 7 % of the CPU
    of a PostgreSQL backup here (a backup runs several tools). With
    ``PGHOST`` set, which dbkeeper always sets for its tools, the wrapper
    consults no cluster configuration and runs the newest installed version
    (``man pg_wrapper``); this picks that same program directly. Anything
    else on ``PATH`` is used as it is.
    """
    path = find_tool([name], install_hint)
    if os.path.basename(os.path.realpath(path)) != "pg_wrapper":
        return path
    installed = [(version_tuple(f"{program.parent.parent.name}.0"), program)
                 for program in binroot.glob(f"*/bin/{name}") if os.access(program, os.X_OK)]
    return str(max(installed)[1]) if installed else path
