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
only when that succeeded swaps it in (drop the old target, rename the
scratch one), so a failed or interrupted restore never leaves a
half-restored target; a failure drops the scratch database. An existing
but empty target (and a data-only dump) is loaded directly with
``--single-transaction`` instead: just as all-or-nothing, without the cost
of creating, dropping and renaming databases (each forces a checkpoint).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from dbkeeper.backup.errors import RestoreTargetError, ToolError
from dbkeeper.backup.tools import (
    find_tool,
    private_dir,
    stream_in,
    stream_out,
    tool_version,
    version_tuple,
    write_private,
)
from dbkeeper.child_env import child_environment
from dbkeeper.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL

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


def _admin(url: DatabaseURL) -> DatabaseConnection:
    return DatabaseConnection.from_url(url.with_database("postgres"), name="dbkeeper-admin",
                                       connection_pool_size=1, max_retries=0)


def _server_major(conn: DatabaseConnection) -> tuple[int, str]:
    row = conn.execute("SELECT current_setting('server_version_num') AS num, "
                       "current_setting('server_version') AS v").rows[0]
    return int(row["num"]) // 10000, str(row["v"])


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


def _check_tool(name: str, server_major: int) -> tuple[str, str]:
    path = client_tool(name, _INSTALL.format(major=server_major))
    version = tool_version(path)
    parsed = version_tuple(version)
    if parsed and parsed[0] < server_major:
        raise ToolError(f"{name} {parsed[0]} is older than the PostgreSQL {server_major} server and cannot dump "
                        f"it; {_INSTALL.format(major=server_major)}")
    return path, version


def dump(connection: DatabaseConnection, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
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


def _is_empty(conn: DatabaseConnection) -> bool:
    rows = conn.execute(
        "SELECT count(*) AS n FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
        "AND n.nspname NOT LIKE 'pg_temp%'").rows
    return int(rows[0]["n"]) == 0


def _exists(admin: DatabaseConnection, name: str) -> bool:
    return bool(admin.execute("SELECT 1 AS x FROM pg_catalog.pg_database WHERE datname = %s", (name,)).rows)


def _conninfo_dbname(name: str) -> str:
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def restore(connection: DatabaseConnection, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Load a verified ``pg_dump -Fc`` stream into a scratch database, then swap it in."""
    url = connection.url
    target = url.database
    if not target:
        raise RestoreTargetError("the PostgreSQL restore target URL names no database")
    replace = bool(options.get("replace", False))
    dump_meta = (options.get("manifest") or {}).get("dump") or {}
    content = dump_meta.get("content", "full")
    ordered = dump_meta.get("format") == "dbkeeper-pg-ordered"
    admin = _admin(url)
    quote = connection.dialect.quote_identifier
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
        argv = [path, "--exit-on-error", "--no-owner", "--no-privileges", "--no-password"]
        if content == "data" and not exists:
            raise RestoreTargetError(f"data-only restore needs the target database {target!r} with its schema")
        if not ordered and (content == "data" or (exists and empty)):
            # An existing empty target (or a data-only load): one transaction keeps it all-or-nothing.
            argv.insert(1, "--single-transaction")
            with _tool_env(url) as env:
                stream_in([*argv, "--dbname", _conninfo_dbname(target)], env, source, secrets=[url.password])
            return {"target": target, "content": content}
        scratch = f"{target[:40]}_dbk_restore_{secrets.token_hex(4)}"
        admin.execute(f"CREATE DATABASE {quote(scratch)} TEMPLATE template0")
        try:
            if ordered:
                from dbkeeper_postgres.incremental import restore_ordered

                restore_ordered(url, scratch, source, tool_env=_tool_env, pg_restore=path, dialect=connection.dialect)
            else:
                with _tool_env(url, scratch) as env:
                    stream_in([*argv, "--dbname", _conninfo_dbname(scratch)], env, source, secrets=[url.password])
            if exists:
                admin.execute(f"DROP DATABASE {quote(target)} WITH (FORCE)")
            admin.execute(f"ALTER DATABASE {quote(scratch)} RENAME TO {quote(target)}")
        except BaseException:
            with contextlib.suppress(Exception):
                admin.execute(f"DROP DATABASE IF EXISTS {quote(scratch)} WITH (FORCE)")
            raise
    return {"target": target, "content": content, "swapped": True}
