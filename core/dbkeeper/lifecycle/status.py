"""The lifecycle states of a versioned database, in the order they happen.

``DBStatus`` is an ``IntEnum`` so the states compare the way the old
``DBManager`` code compared them (``status > DBStatus.RUNNING`` means "no
longer usable"): STARTING < RUNNING < STOPPING < STOPPED < FAILED.
"""

from __future__ import annotations

import enum


class DBStatus(enum.IntEnum):
    """Where a :class:`~dbkeeper.lifecycle.VersionedDatabase` is in its life."""

    #: Connecting, checking the stored version, creating or upgrading the schema.
    STARTING = 0
    #: Ready: decorated methods run.
    RUNNING = 1
    #: ``close()`` was called; operations already admitted are finishing, new ones fail fast.
    STOPPING = 2
    #: Closed: the connection is released; every decorated call fails fast.
    STOPPED = 3
    #: Startup failed (see ``ensure_ready()``); the database was left as it was before.
    FAILED = 4

    def __str__(self) -> str:
        return self.name
