"""The environment of every child process dbkeeper starts (pg_dump, psql, mariadb, ...).

A child inherits nothing by default: ``DBKEEPER_BACKUP_PASSPHRASE``,
``DBKEEPER_BACKUP_KEY``, cloud tokens and whatever else the parent holds
would otherwise be readable in ``/proc/<pid>/environ`` of every tool and of
everything that tool starts. A child gets the variables on
:data:`ALLOWED` (how to find programs, the locale, the time zone, where home
and temp files are), the libpq TLS settings dbkeeper's own connection also
read (so a tool connects the way dbkeeper did), and the variables the caller
sets for the tool (``PGHOST``, ``PGPASSFILE``, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Variables a child keeps from the parent: program lookup, locale, time zone, home and temp directories
#: (libpq reads ``~/.postgresql`` certificates, the MariaDB client ``~/.my.cnf``), and what Windows needs
#: to start a process at all.
ALLOWED = frozenset({
    "PATH", "LANG", "LANGUAGE", "TZ", "HOME", "TMPDIR", "TMP", "TEMP", "USER", "LOGNAME",
    "SYSTEMROOT", "COMSPEC", "PATHEXT", "WINDIR",
})
#: Prefixes kept as well: the ``LC_*`` locale categories.
ALLOWED_PREFIXES = ("LC_",)
#: libpq TLS settings: not secret (paths and modes), and read by dbkeeper's own psycopg connection too.
LIBPQ_TLS = frozenset({"PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGSSLCRL", "PGSSLCRLDIR",
                       "PGSSLSNI", "PGSSLMINPROTOCOLVERSION", "PGSSLMAXPROTOCOLVERSION", "PGREQUIRESSL"})


def child_environment(tool_vars: Mapping[str, str] | None = None, *,
                      parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: the allowed parent variables plus ``tool_vars``.

    ``tool_vars`` are the variables dbkeeper sets for the tool (they win
    over the parent's); ``parent`` defaults to ``os.environ``.
    """
    source = os.environ if parent is None else parent
    env = {name: value for name, value in source.items()
           if name in ALLOWED or name in LIBPQ_TLS or name.startswith(ALLOWED_PREFIXES)}
    env.update(tool_vars or {})
    return env


__all__ = ["ALLOWED", "LIBPQ_TLS", "child_environment"]
