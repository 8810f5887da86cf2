"""The restore's admin session: one connection to the server's ``postgres`` database.

A module of its own because the restore (:mod:`.dump`) and the detached drop of
the set-aside copy (:mod:`._drop_aside`, which the restore starts) both open it:
in ``dump.py`` the two modules would import each other.
"""

from __future__ import annotations

import dataclasses
import os

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL


def admin_connection(url: DatabaseURL, restore_pid: int | None = None) -> DatabaseConnection:
    """A one-session connection to the server's ``postgres`` database (creating, renaming, dropping).

    Its ``application_name`` is ``dbkeeper-restore-<pid>``, so an operator
    (or a test) can tell which process's session holds a restore's names;
    the detached drop of the aside copy passes its restore's ``restore_pid``,
    so its session counts as that restore's until the copy is gone.
    """
    query = tuple((k, v) for k, v in url.query if k != "application_name")
    pid = os.getpid() if restore_pid is None else restore_pid
    admin_url = dataclasses.replace(url.with_database("postgres"),
                                    query=(*query, ("application_name", f"dbkeeper-restore-{pid}")))
    return DatabaseConnection.from_url(admin_url, name="dbkeeper-admin",
                                       connection_pool_size=1, max_retries=0)
