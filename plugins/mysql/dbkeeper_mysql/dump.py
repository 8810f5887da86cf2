"""Dump and restore MySQL/MariaDB databases for ``dbkeeper.backup``.

Dump: ``mariadb-dump`` (or ``mysqldump``) with ``--single-transaction
--routines --triggers --events`` streams into the sink. Credentials go in a
0600 ``--defaults-extra-file`` in a private temp directory: never in argv.
``--hex-blob`` keeps binary columns intact through the text dump.

With ``options["chainable"]`` (every full and incremental backup, since the
dialect has the ``incremental`` capability) the rows are exported by
:mod:`dbkeeper_mysql.incremental` instead: the same kind of SQL, but in
primary-key order, one row per line, in one consistent snapshot, read by
``options["workers"]`` client sessions in parallel when the caller asks for
more than one (parallel sessions share their snapshot through a brief
``FLUSH TABLES WITH READ LOCK``, so it is opt-in: on two CPUs shared with
the server it did not pay off, 5.26 s with one worker against 5.38 s).

Restore: the ``mariadb`` (or ``mysql``) client reads the verified stream
on stdin. A non-empty target is refused unless ``replace`` is set, in
which case the target is replaced. Dumps of base tables only are loaded into
a scratch database and moved in with one atomic ``RENAME TABLE``; others
(views, routines, triggers, events) are loaded into the target directly,
after the archive has been verified in full (MySQL DDL is not transactional).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from dbkeeper.backup.errors import RestoreTargetError, ToolError
from dbkeeper.backup.tools import (
    base_env,
    find_tool,
    private_dir,
    stream_in,
    stream_out,
    tool_version,
    version_tuple,
    write_private,
)
from dbkeeper.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL

_INSTALL = ("install the client tools (Debian/Ubuntu: apt-get install mariadb-client, or mysql-client for "
            "MySQL servers; macOS: brew install mariadb or mysql-client)")


def _option_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def defaults_file(url: DatabaseURL) -> Iterator[Path]:
    """A 0600 ``[client]`` options file for ``url`` in a private temp directory (removed afterwards).

    The client tools read the credentials from it (``--defaults-extra-file``),
    never from argv; values are quoted as the option-file syntax wants.
    """
    lines = ["[client]"]
    if url.username:
        lines.append(f"user={_option_value(url.username)}")
    if url.password is not None:
        lines.append(f"password={_option_value(url.password)}")
    lines.append(f"host={_option_value(url.host or 'localhost')}")
    lines.append(f"port={int(url.port or 3306)}")
    if url.host in (None, "localhost"):
        lines.append("protocol=TCP")
    with private_dir() as tmp:
        yield write_private(tmp / "client.cnf", "\n".join(lines) + "\n")


def _server(conn: DatabaseConnection) -> tuple[str, bool]:
    version = str(conn.execute("SELECT VERSION() AS v").rows[0]["v"])
    return version, "mariadb" in version.lower()


def _check_tool(names: list[str], server_version: str, mariadb: bool) -> tuple[str, str]:
    path = find_tool(names, _INSTALL)
    version = tool_version(path)
    if mariadb == ("mariadb" in version.lower()):
        distrib = version.split("Distrib", 1)[-1]
        tool = version_tuple(distrib)[:2]
        server = version_tuple(server_version)[:2]
        if tool and server and tool < server:
            raise ToolError(f"{Path(path).name} {'.'.join(map(str, tool))} is older than the server "
                            f"({server_version}); {_INSTALL}")
    return path, version


def dump(connection: DatabaseConnection, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Stream a consistent ``--single-transaction`` dump of the connected database into ``sink``."""
    url = connection.url
    if not url.database:
        raise RestoreTargetError("the MySQL URL names no database to back up")
    with connection:
        server_version, mariadb = _server(connection)
        objects = _other_objects(connection, url.database)
    names = ["mariadb-dump", "mysqldump"] if mariadb else ["mysqldump", "mariadb-dump"]
    path, version = _check_tool(names, server_version, mariadb)
    include_schema = bool(options.get("include_schema", True))
    include_data = bool(options.get("include_data", True))
    if options.get("chainable") and include_schema and include_data:
        from dbkeeper_mysql.incremental import dump_ordered

        client, _ = _check_tool(["mariadb", "mysql"] if mariadb else ["mysql", "mariadb"], server_version, mariadb)
        base_dump = options.get("base_dump")
        binlog_tool, unavailable = None, None
        if base_dump is not None:  # an incremental reads the binary log to find what changed since its base
            try:
                binlog_tool = find_tool(["mariadb-binlog", "mysqlbinlog"] if mariadb else ["mysqlbinlog"], _INSTALL)
            except ToolError as exc:
                unavailable = str(exc)
        with defaults_file(url) as cnf:
            meta = dump_ordered(connection, sink, dump_tool=path, client=client, binlog_tool=binlog_tool,
                                defaults_file=str(cnf), database=url.database, secrets=[url.password],
                                workers=int(options.get("workers") or 1), base_dump=base_dump,
                                binlog_unavailable=unavailable)
        return {"tool": f"{Path(path).name} + {Path(client).name}", "tool_version": version,
                "server_version": server_version, "content": "full", "non_table_objects": objects, **meta}
    with defaults_file(url) as cnf:
        argv = [path, f"--defaults-extra-file={cnf}", "--single-transaction", "--hex-blob", "--quick",
                "--default-character-set=utf8mb4", "--skip-dump-date", "--no-tablespaces"]
        if include_schema:
            argv += ["--routines", "--triggers", "--events"]
        else:
            argv += ["--no-create-info", "--skip-triggers"]
        if not include_data:
            argv.append("--no-data")
        argv += ["--", url.database]
        stream_out(argv, base_env(), sink, secrets=[url.password])
    content = "full" if include_schema and include_data else "schema" if include_schema else "data"
    return {"tool": Path(path).name, "tool_version": version, "server_version": server_version,
            "format": "sql", "content": content, "non_table_objects": objects, "chainable": False}


def _other_objects(conn: DatabaseConnection, name: str) -> int:
    """Views, routines, triggers and events: objects ``RENAME TABLE`` cannot move between databases."""
    total = 0
    for sql in ("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type <> 'BASE TABLE'",
                "SELECT COUNT(*) AS n FROM information_schema.routines WHERE routine_schema = %s",
                "SELECT COUNT(*) AS n FROM information_schema.triggers WHERE trigger_schema = %s",
                "SELECT COUNT(*) AS n FROM information_schema.events WHERE event_schema = %s"):
        total += int(conn.execute(sql, (name,)).rows[0]["n"])
    return total


def _table_count(admin: DatabaseConnection, name: str) -> int | None:
    if not admin.execute("SELECT 1 AS x FROM information_schema.schemata WHERE schema_name = %s", (name,)).rows:
        return None
    rows = admin.execute("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = %s", (name,)).rows
    routines = admin.execute("SELECT COUNT(*) AS n FROM information_schema.routines WHERE routine_schema = %s",
                             (name,)).rows
    return int(rows[0]["n"]) + int(routines[0]["n"])


def restore(connection: DatabaseConnection, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Feed the verified SQL dump to the ``mariadb``/``mysql`` client.

    When the dump holds only base tables (the common case), it is loaded into
    a scratch database first and moved into the target with one
    ``RENAME TABLE`` statement, which MySQL performs atomically; a failure
    drops the scratch database and leaves the target as it was. Dumps with
    views, routines, triggers or events (which ``RENAME TABLE`` cannot move)
    are loaded straight into the target.
    """
    url = connection.url
    target = url.database
    if not target:
        raise RestoreTargetError("the MySQL restore target URL names no database")
    replace = bool(options.get("replace", False))
    dump_meta = (options.get("manifest") or {}).get("dump") or {}
    content = dump_meta.get("content", "full")
    swap = content != "data" and dump_meta.get("non_table_objects") == 0
    quote = connection.dialect.quote_identifier
    admin = DatabaseConnection.from_url(url.with_database(""), name="dbkeeper-admin", connection_pool_size=1,
                                        max_retries=0)
    with admin:
        server_version, mariadb = _server(admin)
        names = ["mariadb", "mysql"] if mariadb else ["mysql", "mariadb"]
        path, _ = _check_tool(names, server_version, mariadb)
        objects = _table_count(admin, target)
        if content == "data":
            if objects is None:
                raise RestoreTargetError(f"data-only restore needs the target database {target!r} with its schema")
        elif objects and not replace:
            raise RestoreTargetError(f"restore target database {target!r} is not empty; pass replace=True "
                                     "(--replace) to overwrite it, or restore into another database")
        if not swap:
            if content != "data" and objects and replace:
                admin.execute(f"DROP DATABASE {quote(target)}")
                objects = None
            if content != "data" and objects is None:
                admin.execute(f"CREATE DATABASE {quote(target)}")
            _load(path, url, target, source)
            return {"target": target, "content": content, "swapped": False}
        scratch = f"{target[:40]}_dbk_restore_{secrets.token_hex(4)}"
        admin.execute(f"CREATE DATABASE {quote(scratch)}")
        try:
            _load(path, url, scratch, source)
            tables = [r["t"] for r in admin.execute(
                "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s", (scratch,)).rows]
            if objects is None:
                admin.execute(f"CREATE DATABASE {quote(target)}")
            elif objects and replace:
                admin.execute(f"DROP DATABASE {quote(target)}")
                admin.execute(f"CREATE DATABASE {quote(target)}")
            if tables:
                admin.execute("SET SESSION foreign_key_checks = 0")
                admin.execute("RENAME TABLE " + ", ".join(
                    f"{quote(scratch)}.{quote(t)} TO {quote(target)}.{quote(t)}" for t in tables))
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {quote(scratch)}")
    return {"target": target, "content": content, "swapped": True}


def _load(path: str, url: DatabaseURL, database: str, source: IO[bytes]) -> None:
    with defaults_file(url) as cnf:
        argv = [path, f"--defaults-extra-file={cnf}", "--binary-mode", "--default-character-set=utf8mb4",
                "--batch", f"--database={database}"]
        stream_in(argv, base_env(), source, secrets=[url.password])
