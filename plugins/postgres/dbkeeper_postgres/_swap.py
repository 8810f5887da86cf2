"""The scratch and aside databases of a PostgreSQL restore: names, the atomic swap, leftovers.

A replacing restore loads into ``<target>_dbk_restore_<hex>`` and then, in
ONE transaction (``ALTER DATABASE ... RENAME`` is transactional), renames
the target to ``<target>_dbk_aside_<hex>`` and the scratch copy to the
target, then drops the aside copy. The target's name therefore always holds
the old or the new data: a failure (or a SIGKILL, which makes the server
roll the transaction back) before the commit leaves the names as they were,
and after it only the aside copy is left to drop.

Whatever a SIGKILL leaves is found again by its name: the fixed suffix
``_dbk_restore_`` / ``_dbk_aside_`` plus eight hex digits, after the
target's name cut to 40 bytes. A restore in progress holds a session-level
advisory lock on each of its names (on the admin connection to the
``postgres`` database), so it is never reported or removed as a leftover;
the server releases the lock when that process dies.
"""

from __future__ import annotations

import re
import secrets
import time

from dbkeeper.backup.errors import RestoreTargetError
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import DbKeeperError

KINDS = ("restore", "aside")
_PATTERN = re.compile(r"(?P<prefix>.*)_dbk_(?P<kind>restore|aside)_[0-9a-f]{8}", re.DOTALL)
#: First key of the two-key advisory locks held on scratch/aside names (``b"dbkr"``).
_LOCK_SPACE = 0x64626B72
_SWAP_ATTEMPTS = 5


def prefix_of(target: str) -> str:
    """The target's name cut to 40 bytes (on a character boundary), so a suffixed name fits in 63 bytes."""
    raw = target.encode("utf-8")[:40]
    return raw.decode("utf-8", "ignore")


def new_name(target: str, kind: str) -> str:
    """A fresh scratch (``restore``) or ``aside`` name for ``target``."""
    return f"{prefix_of(target)}_dbk_{kind}_{secrets.token_hex(4)}"


def is_leftover_name(target: str, name: str) -> bool:
    """True when ``name`` is a scratch or aside name of ``target`` (exactly the fixed pattern)."""
    match = _PATTERN.fullmatch(name)
    return bool(match) and match is not None and match["prefix"] == prefix_of(target)


def hold(admin: DatabaseConnection, name: str) -> None:
    """Mark ``name`` as in use by this restore until the admin session ends."""
    admin.execute("SELECT pg_catalog.pg_advisory_lock(%s, pg_catalog.hashtext(%s)) AS held", (_LOCK_SPACE, name))


def release(admin: DatabaseConnection, name: str) -> None:
    """Undo :func:`hold` (the lock also goes when the session does)."""
    admin.execute("SELECT pg_catalog.pg_advisory_unlock(%s, pg_catalog.hashtext(%s)) AS released",
                  (_LOCK_SPACE, name))


def _not_in_use(admin: DatabaseConnection, name: str) -> bool:
    rows = admin.execute("SELECT pg_catalog.pg_try_advisory_lock(%s, pg_catalog.hashtext(%s)) AS free",
                         (_LOCK_SPACE, name)).rows
    if not rows[0]["free"]:
        return False
    release(admin, name)
    return True


def leftovers(admin: DatabaseConnection, target: str) -> list[str]:
    """Scratch and aside databases of ``target`` that no running restore holds, oldest first."""
    like = prefix_of(target).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "\\_dbk\\_%"
    rows = admin.execute("SELECT datname AS name FROM pg_catalog.pg_database WHERE datname LIKE %s ORDER BY oid",
                         (like,)).rows
    names = [str(r["name"]) for r in rows]
    return [n for n in names if is_leftover_name(target, n) and _not_in_use(admin, n)]


def drop(admin: DatabaseConnection, name: str) -> None:
    """Drop one scratch or aside database, its sessions terminated."""
    admin.execute(f"DROP DATABASE IF EXISTS {admin.dialect.quote_identifier(name)} WITH (FORCE)")


def remove_leftover(admin: DatabaseConnection, target: str, name: str) -> None:
    """Drop ``name`` when it is one of ``target``'s leftovers; refuse any other database."""
    if not is_leftover_name(target, name):
        raise RestoreTargetError(f"{name!r} is not a restore leftover of {target!r} (expected "
                                 f"{prefix_of(target)}_dbk_restore_<hex> or _dbk_aside_<hex>); nothing was dropped")
    if name not in leftovers(admin, target):
        raise RestoreTargetError(f"{name!r} does not exist or a restore still running is using it; "
                                 "nothing was dropped")
    drop(admin, name)


def _in_use(exc: DbKeeperError) -> bool:
    """``object_in_use``: a session (re)connected to the target or the scratch copy before the rename."""
    return getattr(exc, "sqlstate", None) == "55006" or "being accessed by other users" in str(exc)


def swap_in(admin: DatabaseConnection, target: str, scratch: str, *, target_exists: bool) -> str | None:
    """Put ``scratch`` under ``target``'s name in one transaction; return the aside name (to drop) or ``None``.

    Sessions on both databases are terminated inside the transaction (the
    rename waits for them to exit); a session that connects again in between
    makes the rename fail, and the whole transaction is retried. A swap that
    still fails raises :class:`RestoreTargetError` saying the target is
    unchanged (the transaction was rolled back; the caller drops the copy).
    """
    quote = admin.dialect.quote_identifier
    aside = new_name(target, "aside") if target_exists else None
    if aside is not None:
        hold(admin, aside)
    attempt = 1
    while True:
        try:
            with admin.transaction() as tx:
                tx.execute("SELECT count(pg_catalog.pg_terminate_backend(pid)) AS n FROM pg_catalog.pg_stat_activity "
                           "WHERE datname IN (%s, %s) AND pid <> pg_catalog.pg_backend_pid()", (target, scratch))
                if aside is not None:
                    tx.execute(f"ALTER DATABASE {quote(target)} RENAME TO {quote(aside)}")
                tx.execute(f"ALTER DATABASE {quote(scratch)} RENAME TO {quote(target)}")
        except DbKeeperError as exc:
            if not _in_use(exc) or attempt == _SWAP_ATTEMPTS:
                if aside is not None:
                    release(admin, aside)
                state = "still holds its old data" if target_exists else "was not created"
                raise RestoreTargetError(f"could not put the restored copy in place of {target!r} ({exc}); "
                                         f"{target!r} {state}") from None
            time.sleep(0.1 * attempt)
            attempt += 1
        else:
            return aside
