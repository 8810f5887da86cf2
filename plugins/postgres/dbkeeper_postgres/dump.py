"""Dump and restore PostgreSQL databases for ``dbkeeper.backup`` with pg_dump / pg_restore.

``pg_dump -Fc --compress=0`` (custom format, its own compression off: the
backup pipeline compresses with zstd or gzip) streams into the sink.
Credentials go to the tools through a 0600 passfile in a private temp
directory named by ``PGPASSFILE``; host, port, user and database through
``PG*`` variables: nothing secret in argv.

With ``options["chainable"]`` (the dialect has the ``incremental``
capability, so every full and incremental backup asks for it) the dump is
:mod:`dbkeeper_postgres.incremental`'s ordered format instead: pg_dump for
the schema, primary-key-ordered COPY for the rows, one exported snapshot.
Schema-only and data-only backups stay ``pg_dump -Fc`` (not chainable).

Restore refuses a non-empty target unless ``replace`` is set. It loads the
dump with ``pg_restore --exit-on-error`` into a fresh scratch database, and
only when that succeeded swaps it in with one transaction of renames
(:mod:`dbkeeper_postgres._swap`), so the target's name always holds the old
or the new data; a failure drops the scratch database. An existing but
empty target (and a data-only dump) is loaded directly with
``--single-transaction`` instead: just as all-or-nothing, without the cost
of creating, dropping and renaming databases (each forces a checkpoint).

Owners and grants are kept, as ``pg_restore`` keeps them; the roles they
name are checked first (:mod:`dbkeeper_postgres._roles`), and
``options["portable"]`` drops them instead (``--no-owner --no-privileges``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import IO, Any

from dbkeeper.backup.errors import RestoreTargetError, ToolError
from dbkeeper.backup.tools import (
    private_dir,
    stream_in,
    stream_out,
    tool_version,
    version_tuple,
    write_private,
)
from dbkeeper.child_env import child_environment
from dbkeeper.contract.session import Session
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import DbKeeperError
from dbkeeper.urls import DatabaseURL
from dbkeeper_postgres._admin import admin_connection
from dbkeeper_postgres._client_tools import client_tool
from dbkeeper_postgres._dbprops import copy_properties
from dbkeeper_postgres._roles import Replay, check_roles, read_needed_roles
from dbkeeper_postgres._swap import drop, hold, new_name, release, swap_in

_INSTALL = "install the PostgreSQL client tools matching the server (Debian/Ubuntu: apt-get install " \
           "postgresql-client-{major}; macOS: brew install postgresql@{major})"


def _passfile_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextlib.contextmanager
def _tool_env(url: DatabaseURL, database: str | None = None) -> Iterator[dict[str, str]]:
    """The environment of pg_dump / pg_restore: the allowlisted parent variables plus the ``PG*`` ones set here.

    Nothing else of dbkeeper's environment (a backup passphrase or key)
    reaches the tool; the password goes in a 0600 passfile, never a variable.
    """
    env = child_environment({"PGHOST": url.host or "localhost", "PGPORT": str(url.port or 5432),
                             "PGDATABASE": database or url.database or "postgres", "PGCONNECT_TIMEOUT": "30",
                             "PGAPPNAME": "dbkeeper-backup"})
    if url.username:
        env["PGUSER"] = url.username
    if "sslmode" in url.options:
        env["PGSSLMODE"] = url.options["sslmode"]
    with private_dir() as tmp:
        if url.password is not None:
            line = f"*:*:*:*:{_passfile_escape(url.password)}\n"
            env["PGPASSFILE"] = str(write_private(tmp / "pgpass", line))
        yield env


def _server_major(conn: Session) -> tuple[int, str]:
    row = conn.execute("SELECT current_setting('server_version_num') AS num, "
                       "current_setting('server_version') AS v").rows[0]
    return int(row["num"]) // 10000, str(row["v"])


def _check_tool(name: str, server_major: int) -> tuple[str, str]:
    path = client_tool(name, _INSTALL.format(major=server_major))
    version = tool_version(path)
    parsed = version_tuple(version)
    if parsed and parsed[0] < server_major:
        raise ToolError(f"{name} {parsed[0]} is older than the PostgreSQL {server_major} server and cannot dump "
                        f"it; {_INSTALL.format(major=server_major)}")
    return path, version


def dump(connection: Session, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Stream ``pg_dump -Fc --compress=0`` of the connected database into ``sink``."""
    url = connection.url
    with connection:
        major, server_version = _server_major(connection)
    path, version = _check_tool("pg_dump", major)
    argv = [path, "--format=custom", "--compress=0", "--no-password"]
    include_schema = bool(options.get("include_schema", True))
    include_data = bool(options.get("include_data", True))
    if options.get("chainable") and include_schema and include_data:
        from dbkeeper.backup.pipeline import default_workers
        from dbkeeper_postgres.incremental import dump_ordered

        meta = dump_ordered(connection, sink, dict(options), tool_env=_tool_env, pg_dump=path,
                            workers=int(options.get("workers") or default_workers()))
        return {"tool": "pg_dump + COPY", "tool_version": version, "server_version": server_version,
                "content": "full", **meta}
    if not include_data:
        argv.append("--schema-only")
    elif not include_schema:
        argv.append("--data-only")
    with _tool_env(url) as env:
        stream_out(argv, env, sink, secrets=[url.password])
    content = "full" if include_schema and include_data else "schema" if include_schema else "data"
    return {"tool": "pg_dump", "tool_version": version, "server_version": server_version,
            "format": "pg_dump-custom", "content": content, "chainable": False}


def _is_empty(conn: Session) -> bool:
    rows = conn.execute(
        "SELECT count(*) AS n FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
        "AND n.nspname NOT LIKE 'pg_temp%'").rows
    return int(rows[0]["n"]) == 0


def _exists(admin: DatabaseConnection, name: str) -> bool:
    return bool(admin.execute("SELECT 1 AS x FROM pg_catalog.pg_database WHERE datname = %s", (name,)).rows)


def _conninfo_dbname(name: str) -> str:
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _restore_argv(path: str, portable: bool) -> list[str]:
    """``pg_restore`` arguments: owners and grants kept (as pg_restore does) unless ``portable``."""
    argv = [path, "--exit-on-error", "--no-password"]
    return [*argv, "--no-owner", "--no-privileges"] if portable else argv


def _read_roles(url: DatabaseURL, path: str, source: IO[bytes]) -> tuple[set[str], Replay]:
    with _tool_env(url) as env:
        needed, head = read_needed_roles(path, env, source, [url.password])
    return needed, Replay(head, source)


def _restore_into_empty(url: DatabaseURL, argv: list[str], source: IO[bytes]) -> None:
    """An existing empty target (or a data-only load): one transaction keeps it all-or-nothing."""
    target = url.database or ""
    with _tool_env(url) as env:
        stream_in([argv[0], "--single-transaction", *argv[1:], "--dbname", _conninfo_dbname(target)], env, source,
                  secrets=[url.password])


def restore(connection: Session, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Load a verified dump into a scratch database, then swap it in atomically (see :mod:`._swap`).

    ``options["portable"]`` restores without owners and grants (for a server
    without the dump's roles); otherwise the roles the dump needs are checked
    against the server before anything is created.
    """
    url = connection.url
    target = url.database
    if not target:
        raise RestoreTargetError("the PostgreSQL restore target URL names no database")
    replace = bool(options.get("replace", False))
    portable = bool(options.get("portable", False))
    dump_meta = (options.get("manifest") or {}).get("dump") or {}
    content = dump_meta.get("content", "full")
    ordered = dump_meta.get("format") == "dbkeeper-pg-ordered"
    admin = admin_connection(url)
    with admin:
        major, _ = _server_major(admin)
        path, _ = _check_tool("pg_restore", major)
        exists = _exists(admin, target)
        empty = not exists
        if exists and content != "data":
            with DatabaseConnection.from_url(url, name="dbkeeper-target", connection_pool_size=1,
                                             max_retries=0) as probe:
                empty = _is_empty(probe)
            if not empty and not replace:
                raise RestoreTargetError(f"restore target database {target!r} is not empty; pass replace=True "
                                         "(--replace) to overwrite it, or restore into another database")
        if content == "data" and not exists:
            raise RestoreTargetError(f"data-only restore needs the target database {target!r} with its schema")
        argv = _restore_argv(path, portable)
        if not portable and not ordered:
            needed, source = _read_roles(url, path, source)
            check_roles(admin, needed, target)
        if not ordered and (content == "data" or (exists and empty)):
            _restore_into_empty(url, argv, source)
            return {"target": target, "content": content}
        return _restore_swapped(admin, url, source, argv, exists=exists, ordered=ordered, content=content,
                                dialect=connection.dialect, detach_drop=bool(options.get("detach_drop")))


@contextlib.contextmanager
def _scratch_env(url: DatabaseURL, database: str | None = None) -> Iterator[dict[str, str]]:
    """:func:`_tool_env` for loading the scratch copy, whose commits need not wait for the disk.

    ``synchronous_commit=off`` lets pg_restore's many commits (one per
    statement: thousands for a large schema) return before their WAL is
    flushed. Nothing is risked: the swap's own commit is synchronous and
    flushes the WAL up to it, which includes every record of the load; a
    crash before it leaves the target untouched and the copy a leftover.
    """
    with _tool_env(url, database) as env:
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c synchronous_commit=off".strip()
        yield env


def _restore_swapped(admin: DatabaseConnection, url: DatabaseURL, source: IO[bytes], argv: list[str], *,
                     exists: bool, ordered: bool, content: str, dialect: Any, detach_drop: bool = False
                     ) -> dict[str, Any]:
    target = url.database or ""
    dropper = None
    if detach_drop and exists:
        from dbkeeper_postgres._drop_aside import Dropper

        dropper = Dropper()
        dropper.start(url)
    scratch = new_name(target, "restore")
    hold(admin, scratch)
    admin.execute(f"CREATE DATABASE {dialect.quote_identifier(scratch)} TEMPLATE template0")
    try:
        if ordered:
            from dbkeeper_postgres.incremental import restore_ordered

            portable = "--no-owner" in argv
            restore_ordered(url, scratch, source, tool_env=_scratch_env, pg_restore=argv[0], dialect=dialect,
                            portable=portable,
                            check_roles=None if portable else (lambda needed: check_roles(admin, needed, target)))
        else:
            with _scratch_env(url, scratch) as env:
                stream_in([*argv, "--dbname", _conninfo_dbname(scratch)], env, source, secrets=[url.password])
        if exists:
            copy_properties(admin, target, scratch)
        aside = swap_in(admin, target, scratch, target_exists=exists)
    except BaseException as exc:
        if dropper is not None:
            dropper.cancel()
        try:
            drop(admin, scratch)
        except Exception:
            if isinstance(exc, DbKeeperError):
                raise type(exc)(f"{exc} (the partly restored copy {scratch!r} could not be dropped; remove it with "
                                "`dbkeeper backup leftovers --remove`)") from None
        raise
    finally:
        release(admin, scratch)
    warnings = []
    if aside is not None and dropper is not None and dropper.hand_over(aside):
        release(admin, aside)  # the child waits for this, then drops the copy (see _drop_aside)
        return {"target": target, "content": content, "swapped": True, "warnings": []}
    if dropper is not None:
        dropper.cancel()
    if aside is not None:
        try:
            drop(admin, aside)
        except DbKeeperError as exc:
            warnings.append(f"the restore is complete, but the old data kept as {aside!r} could not be dropped "
                            f"({exc}); remove it with `dbkeeper backup leftovers --remove`")
        finally:
            release(admin, aside)
    return {"target": target, "content": content, "swapped": True, "warnings": warnings}
