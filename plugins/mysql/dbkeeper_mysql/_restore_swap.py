"""Swap a restored scratch schema into the target: the tables in one ``RENAME TABLE``, journaled.

A ``--replace`` restore loads the dump into ``<target>_dbk_restore_<hex>``
(the scratch schema) while the target stays as it was, then:

1. reads the non-table objects (views, routines, events, triggers) of both
   schemas (:mod:`dbkeeper_mysql._restore_objects`) and writes them, with
   the target's name, into a journal table in ``<target>_dbk_aside_<hex>``
   (the aside schema), next to a marker table;
2. drops the triggers of the target's tables and of the scratch tables
   (``RENAME TABLE`` refuses to move a table with triggers, ``ERROR 1435``);
3. runs ONE ``RENAME TABLE`` that moves every old table into the aside
   schema, every new table into the target, and the marker from the aside
   schema into the scratch one. InnoDB performs it atomically: all the
   tables are old, or all are new, and the marker's place says which;
4. drops the old views, routines and events and creates the new ones and
   the new triggers (views cannot move between schemas, ``ERROR 1450``;
   routines and events are not tables);
5. drops the aside schema (the old tables) and the scratch schema.

An error in step 2 or 3 puts the old triggers back; an error in step 4 moves
the tables back with the reverse ``RENAME TABLE`` and re-creates the old
objects. A killed process leaves the two schemas (a restore still running
holds the lock ``dbk_restore_<hex>`` and is not listed as a leftover);
:func:`remove` finishes what it left: before the ``RENAME`` (marker in the
aside schema) it puts the old objects back, after it (marker in the scratch
schema) it completes step 4; then it drops both schemas. So the target's
tables are always all old or all new; its other objects are, once the
leftover is removed.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from dbkeeper.backup.errors import RestoreTargetError
from dbkeeper_mysql._restore_objects import (
    SchemaObject,
    check_definers,
    create_all,
    drop_all,
    movable_tables,
    quote,
    read_objects,
)

#: Characters of the target's name kept in the scratch and aside names (a schema name has at most 64).
PREFIX = 40
LEFTOVER = re.compile(r"^(?P<prefix>.{1,40})_dbk_(?P<role>restore|aside)_(?P<token>[0-9a-f]{8})$", re.DOTALL)


def new_token() -> str:
    return secrets.token_hex(4)


def scratch_name(target: str, token: str) -> str:
    return f"{target[:PREFIX]}_dbk_restore_{token}"


def aside_name(target: str, token: str) -> str:
    return f"{target[:PREFIX]}_dbk_aside_{token}"


def lock_name(token: str) -> str:
    """The named lock a running restore holds: its schemas are not leftovers while it is held."""
    return f"dbk_restore_{token}"


def _journal(token: str) -> str:
    return f"dbk_journal_{token}"


def _marker(token: str) -> str:
    return f"dbk_swap_marker_{token}"


def _exists(cur: Any, schema: str, table: str | None = None) -> bool:
    if table is None:
        cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,))
    else:
        cur.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (schema, table))
    return bool(cur.fetchall())


def swap_in(cur: Any, target: str, scratch: str, token: str) -> None:
    """Replace the target's tables and objects with the scratch schema's (module docstring: how)."""
    aside = aside_name(target, token)
    new_tables = movable_tables(cur, scratch)
    new_objects = read_objects(cur, scratch)
    old_tables = movable_tables(cur, target)
    old_objects = read_objects(cur, target)
    # A rollback re-creates the old objects: their definers must be settable too.
    check_definers(cur, [o.definer for o in old_objects], f"the target database {target!r}")
    cur.execute(f"CREATE DATABASE {quote(aside)}")
    journal = f"{quote(aside)}.{quote(_journal(token))}"
    cur.execute(f"CREATE TABLE {journal} (seq INT PRIMARY KEY, side VARCHAR(3) NOT NULL, body LONGTEXT NOT NULL)")
    rows = [(0, "tgt", target)] + [(i + 1, "old", json.dumps(asdict(o))) for i, o in enumerate(old_objects)] + [
        (len(old_objects) + i + 1, "new", json.dumps(asdict(o))) for i, o in enumerate(new_objects)]
    cur.executemany(f"INSERT INTO {journal} VALUES (%s, %s, %s)", rows)
    cur.execute(f"CREATE TABLE {quote(aside)}.{quote(_marker(token))} (swapped INT)")
    # From here on the target changes: a killed process is finished by remove().
    try:
        drop_all(cur, scratch, _triggers(new_objects))
        drop_all(cur, target, _triggers(old_objects))
        cur.execute("SET SESSION foreign_key_checks = 0")
        cur.execute("RENAME TABLE " + ", ".join(
            [f"{quote(target)}.{quote(t)} TO {quote(aside)}.{quote(t)}" for t in old_tables]
            + [f"{quote(scratch)}.{quote(t)} TO {quote(target)}.{quote(t)}" for t in new_tables]
            + [f"{quote(aside)}.{quote(_marker(token))} TO {quote(scratch)}.{quote(_marker(token))}"]))
    except BaseException as exc:
        _undo_or_keep(cur, target, token, exc, lambda: _back_to_old(cur, target, old_objects, new_objects))
        raise
    try:
        _forward_to_new(cur, target, old_objects, new_objects)
    except BaseException as exc:
        def undo() -> None:
            drop_all(cur, target, new_objects)
            cur.execute("RENAME TABLE " + ", ".join(
                [f"{quote(target)}.{quote(t)} TO {quote(scratch)}.{quote(t)}" for t in new_tables]
                + [f"{quote(aside)}.{quote(t)} TO {quote(target)}.{quote(t)}" for t in old_tables]
                + [f"{quote(scratch)}.{quote(_marker(token))} TO {quote(aside)}.{quote(_marker(token))}"]))
            _back_to_old(cur, target, old_objects, new_objects)

        _undo_or_keep(cur, target, token, exc, undo)
        raise
    cur.execute("SET SESSION foreign_key_checks = DEFAULT")
    drop_schemas(cur, target, token)


def _undo_or_keep(cur: Any, target: str, token: str, exc: BaseException, undo: Callable[[], None]) -> None:
    """Put the target back as it was and drop both schemas; if that fails too, keep them and say so."""
    try:
        undo()
        cur.execute("SET SESSION foreign_key_checks = DEFAULT")
        drop_schemas(cur, target, token)
    except Exception as second:
        raise RestoreTargetError(
            f"the restore failed ({exc}) and so did putting the target back ({second}); nothing was dropped: "
            f"{aside_name(target, token)!r} and {scratch_name(target, token)!r} hold the old and the new tables; "
            "remove them as restore leftovers (that finishes the restore or undoes it)") from exc


def _triggers(objects: Sequence[SchemaObject]) -> list[SchemaObject]:
    return [o for o in objects if o.kind == "TRIGGER"]


def _back_to_old(cur: Any, target: str, old: Sequence[SchemaObject], new: Sequence[SchemaObject]) -> None:
    drop_all(cur, target, new)
    create_all(cur, target, old)


def _forward_to_new(cur: Any, target: str, old: Sequence[SchemaObject], new: Sequence[SchemaObject]) -> None:
    drop_all(cur, target, old)
    create_all(cur, target, new)


def drop_schemas(cur: Any, target: str, token: str) -> None:
    """Drop the aside schema (old tables) first, then the scratch one: a partial drop stays recoverable."""
    for schema in (aside_name(target, token), scratch_name(target, token)):
        cur.execute(f"DROP DATABASE IF EXISTS {quote(schema)}")


def leftovers(cur: Any, target: str | None) -> list[str]:
    """Scratch and aside schemas of killed restores (of ``target``, or of any database when ``None``)."""
    cur.execute(r"SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '%\_dbk\_%' "
                "ORDER BY schema_name")
    found = []
    for (name,) in [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cur.fetchall()]:
        match = LEFTOVER.match(name)
        if not match or (target is not None and match["prefix"] != target[:PREFIX]):
            continue
        cur.execute("SELECT IS_USED_LOCK(%s)", (lock_name(match["token"]),))
        if cur.fetchall()[0][0] is None:
            found.append(name)
    return found


def remove(cur: Any, target: str | None, name: str) -> None:
    """Finish or undo the killed restore that left ``name`` (module docstring), then drop its schemas."""
    if name not in leftovers(cur, target):
        raise RestoreTargetError(f"{name!r} is not a leftover of an interrupted restore"
                                 + (f" into {target!r}" if target else ""))
    match = LEFTOVER.match(name)
    assert match is not None
    token = match["token"]
    cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(token),))
    if cur.fetchall()[0][0] != 1:
        raise RestoreTargetError(f"{name!r} is in use by a restore that is still running")
    try:
        prefix = match["prefix"]
        aside, scratch = f"{prefix}_dbk_aside_{token}", f"{prefix}_dbk_restore_{token}"
        journal = f"{quote(aside)}.{quote(_journal(token))}"
        marked = _exists(cur, aside, _marker(token)) or _exists(cur, scratch, _marker(token))
        if marked and _exists(cur, aside, _journal(token)):  # else the target was never touched, or is done
            cur.execute(f"SELECT side, body FROM {journal} ORDER BY seq")
            rows = [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cur.fetchall()]
            real_target = next(body for side, body in rows if side == "tgt")
            old = [SchemaObject(**json.loads(body)) for side, body in rows if side == "old"]
            new = [SchemaObject(**json.loads(body)) for side, body in rows if side == "new"]
            if _exists(cur, scratch, _marker(token)):  # the RENAME happened: the tables are new
                _forward_to_new(cur, real_target, old, new)
            else:
                _back_to_old(cur, real_target, old, new)
        for schema in (aside, scratch):
            cur.execute(f"DROP DATABASE IF EXISTS {quote(schema)}")
    finally:
        cur.execute("SELECT RELEASE_LOCK(%s)", (lock_name(token),))
        cur.fetchall()
