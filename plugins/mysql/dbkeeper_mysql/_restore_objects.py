"""The objects of a MySQL schema that ``RENAME TABLE`` cannot move, and whether their definers can be set.

``RENAME TABLE`` moves base tables between schemas, but not views
(``ERROR 1450``), not tables that have triggers (``ERROR 1435``), and
routines and events are not tables at all. The atomic restore
(:mod:`dbkeeper_mysql._restore_swap`) therefore reads these objects'
``SHOW CREATE`` text from one schema and re-creates them in another. The
text is taken in the schema's own session (``USE``), so references to its
own tables come unqualified and resolve in the schema they are re-created in.

Creating an object whose ``DEFINER`` is another account needs ``SUPER``
(MariaDB: ``SET USER``; MySQL 8: ``SET_USER_ID``). :func:`check_definers`
says so before anything is changed, instead of a half-done ``ERROR 1227``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dbkeeper.backup.errors import RestoreTargetError

#: Privileges that let an account create objects with any ``DEFINER``.
DEFINER_PRIVILEGES = frozenset({"SUPER", "SET USER", "SET_USER_ID"})
#: Table types ``RENAME TABLE`` moves between schemas.
MOVABLE_TABLE_TYPES = ("BASE TABLE", "SYSTEM VERSIONED", "SEQUENCE")


@dataclass(frozen=True)
class SchemaObject:
    """One view, trigger, routine or event: how to drop it and how to create it again."""

    kind: str  # VIEW, TRIGGER, PROCEDURE, FUNCTION, EVENT
    name: str
    definer: str
    sql_mode: str | None  # None: the object stores none (views)
    create: str

    @property
    def drop(self) -> str:
        return f"DROP {self.kind} IF EXISTS {quote(self.name)}"


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _rows(cur: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    cur.execute(sql, args)
    return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cur.fetchall()]


def movable_tables(cur: Any, schema: str) -> list[str]:
    """Names of the tables of ``schema`` that ``RENAME TABLE`` can move."""
    return [r[0] for r in _rows(cur, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                                     "AND table_type IN %s ORDER BY table_name", (schema, MOVABLE_TABLE_TYPES))]


def read_objects(cur: Any, schema: str) -> list[SchemaObject]:
    """Views, routines, events and triggers of ``schema``, in an order that re-creates them.

    ``cur``'s session must have ``schema`` as its default database (so the
    ``SHOW CREATE`` text names the schema's own objects unqualified).
    Triggers come per table in their action order; views in name order (the
    creator retries those that need a later one).
    """
    cur.execute(f"USE {quote(schema)}")
    found: list[SchemaObject] = []
    for name, definer in _rows(cur, "SELECT table_name, definer FROM information_schema.views "
                                    "WHERE table_schema = %s ORDER BY table_name", (schema,)):
        create = _rows(cur, f"SHOW CREATE VIEW {quote(name)}")[0][1]
        found.append(SchemaObject("VIEW", name, definer, None, create))
    for name, kind, definer in _rows(cur, "SELECT routine_name, routine_type, definer FROM information_schema.routines"
                                          " WHERE routine_schema = %s ORDER BY routine_type, routine_name", (schema,)):
        row = _rows(cur, f"SHOW CREATE {kind} {quote(name)}")[0]
        _need_text(row[2], kind, name)
        found.append(SchemaObject(kind, name, definer, row[1], row[2]))
    for name, definer in _rows(cur, "SELECT event_name, definer FROM information_schema.events "
                                    "WHERE event_schema = %s ORDER BY event_name", (schema,)):
        row = _rows(cur, f"SHOW CREATE EVENT {quote(name)}")[0]
        _need_text(row[3], "EVENT", name)
        found.append(SchemaObject("EVENT", name, definer, row[1], row[3]))
    for name, definer in _rows(cur, "SELECT trigger_name, definer FROM information_schema.triggers "
                                    "WHERE trigger_schema = %s ORDER BY event_object_table, action_timing, "
                                    "event_manipulation, action_order", (schema,)):
        row = _rows(cur, f"SHOW CREATE TRIGGER {quote(name)}")[0]
        _need_text(row[2], "TRIGGER", name)
        found.append(SchemaObject("TRIGGER", name, definer, row[1], row[2]))
    return found


def _need_text(text: Any, kind: str, name: str) -> None:
    if not text:
        raise RestoreTargetError(f"cannot read the definition of {kind.lower()} {name!r} (the account needs "
                                 "SHOW CREATE ROUTINE, or to be its definer); nothing was changed")


def create_all(cur: Any, schema: str, objects: Iterable[SchemaObject]) -> None:
    """Drop (if present) and create each object in ``schema``, views retried until their dependencies exist.

    Re-runnable from the start: every creation is preceded by its drop.
    """
    from pymysql import err

    cur.execute(f"USE {quote(schema)}")
    pending = list(objects)
    while pending:
        failed: list[tuple[SchemaObject, Exception]] = []
        for obj in pending:
            if obj.sql_mode is None:
                cur.execute("SET SESSION sql_mode = DEFAULT")
            else:
                cur.execute("SET SESSION sql_mode = %s", (obj.sql_mode,))
            cur.execute(obj.drop)
            try:
                cur.execute(obj.create)
            except err.MySQLError as exc:
                if obj.kind != "VIEW" or exc.args[0] not in (1146, 1356):  # a view naming a view not created yet
                    raise
                failed.append((obj, exc))
        if len(failed) == len(pending):
            raise failed[0][1]
        pending = [obj for obj, _ in failed]
    cur.execute("SET SESSION sql_mode = DEFAULT")


def drop_all(cur: Any, schema: str, objects: Iterable[SchemaObject]) -> None:
    """Drop each object from ``schema`` (those already gone are skipped)."""
    cur.execute(f"USE {quote(schema)}")
    for obj in objects:
        cur.execute(obj.drop)


def current_account(cur: Any) -> tuple[str, set[str]]:
    """The account the session runs as (``user@host``) and its global privileges."""
    account = str(_rows(cur, "SELECT CURRENT_USER()")[0][0])
    user, _, host = account.rpartition("@")
    grantee = f"'{user}'@'{host}'"
    privileges = {str(r[0]).upper() for r in _rows(
        cur, "SELECT privilege_type FROM information_schema.user_privileges WHERE grantee = %s", (grantee,))}
    return account, privileges


def check_definers(cur: Any, definers: Iterable[str], where: str) -> None:
    """Refuse, before anything changes, definers this account may not set (``ERROR 1227`` otherwise)."""
    account, privileges = current_account(cur)
    if privileges & DEFINER_PRIVILEGES:
        return
    foreign = sorted({d for d in definers if d and d != account})
    if foreign:
        raise RestoreTargetError(
            f"{where} has objects whose DEFINER is {', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}; "
            f"the restoring account {account} may create objects only for itself (grant it SET USER on MariaDB, "
            "SET_USER_ID on MySQL 8, or SUPER, or restore as that definer); nothing was changed")
