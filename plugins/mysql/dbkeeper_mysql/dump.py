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
on stdin, into a scratch schema; the target is touched only once the whole
dump has loaded there, and then the tables move in with one atomic
``RENAME TABLE`` (:mod:`dbkeeper_mysql._restore_swap`). A non-empty target
is refused unless ``replace`` is set; definers the restoring account may not
set are refused before anything changes (:mod:`dbkeeper_mysql._restore_objects`).
"""

from __future__ import annotations

import contextlib
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
from dbkeeper.contract.session import Session
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


def _server(conn: Session) -> tuple[str, bool]:
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


def dump(connection: Session, sink: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Stream a consistent ``--single-transaction`` dump of the connected database into ``sink``."""
    url = connection.url
    if not url.database:
        raise RestoreTargetError("the MySQL URL names no database to back up")
    with connection:
        server_version, mariadb = _server(connection)
        objects = _other_objects(connection, url.database)
        definers = _definers(connection, url.database)
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
                "server_version": server_version, "content": "full", "non_table_objects": objects,
                "definers": definers, **meta}
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
            "format": "sql", "content": content, "non_table_objects": objects, "chainable": False,
            "definers": definers}


def _other_objects(conn: Session, name: str) -> int:
    """Views, routines, triggers and events: objects ``RENAME TABLE`` cannot move between databases."""
    total = 0
    for sql in ("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type <> 'BASE TABLE'",
                "SELECT COUNT(*) AS n FROM information_schema.routines WHERE routine_schema = %s",
                "SELECT COUNT(*) AS n FROM information_schema.triggers WHERE trigger_schema = %s",
                "SELECT COUNT(*) AS n FROM information_schema.events WHERE event_schema = %s"):
        total += int(conn.execute(sql, (name,)).rows[0]["n"])
    return total


def _definers(conn: Session, name: str) -> list[str]:
    """Distinct DEFINERs of the views, routines, triggers and events: a restore checks them first."""
    rows = conn.execute(
        "SELECT definer AS d FROM information_schema.views WHERE table_schema = %s UNION "
        "SELECT definer FROM information_schema.routines WHERE routine_schema = %s UNION "
        "SELECT definer FROM information_schema.triggers WHERE trigger_schema = %s UNION "
        "SELECT definer FROM information_schema.events WHERE event_schema = %s", (name, name, name, name)).rows
    return sorted(str(r["d"]) for r in rows)


def _object_count(cur: Any, name: str) -> int | None:
    """Tables and routines of ``name``; ``None`` when there is no such database."""
    cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (name,))
    if not cur.fetchall():
        return None
    cur.execute("SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s) + "
                "(SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = %s)", (name, name))
    return int(cur.fetchall()[0][0])


def restore(connection: Session, source: IO[bytes], options: Mapping[str, Any]) -> dict[str, Any]:
    """Load the verified SQL dump into a scratch schema, then swap it into the target.

    Definers the account may not set are refused first (nothing changed).
    The ``mariadb``/``mysql`` client loads the dump into
    ``<target>_dbk_restore_<hex>`` while the target is untouched; then
    :func:`dbkeeper_mysql._restore_swap.swap_in` moves all tables in with one
    atomic ``RENAME TABLE`` and re-creates views, routines, events and
    triggers (what is atomic and what a killed restore leaves: that module).
    A data-only dump is loaded into the existing tables of the target.
    """
    from dbkeeper_mysql._restore_objects import check_definers
    from dbkeeper_mysql._restore_swap import lock_name, new_token, scratch_name, swap_in

    url = connection.url
    target = url.database
    if not target:
        raise RestoreTargetError("the MySQL restore target URL names no database")
    replace = bool(options.get("replace", False))
    dump_meta = (options.get("manifest") or {}).get("dump") or {}
    content = dump_meta.get("content", "full")
    quote = connection.dialect.quote_identifier
    conn: Any = connection.dialect.connect(url.with_database(""), autocommit=True)
    try:
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        server_version = str(cur.fetchall()[0][0])
        mariadb = "mariadb" in server_version.lower()
        path, _ = _check_tool(["mariadb", "mysql"] if mariadb else ["mysql", "mariadb"], server_version, mariadb)
        objects = _object_count(cur, target)
        if content == "data":
            if objects is None:
                raise RestoreTargetError(f"data-only restore needs the target database {target!r} with its schema")
            _load(path, url, target, source)
            return {"target": target, "content": content, "swapped": False}
        if objects and not replace:
            raise RestoreTargetError(f"restore target database {target!r} is not empty; pass replace=True "
                                     "(--replace) to overwrite it, or restore into another database")
        check_definers(cur, dump_meta.get("definers") or [], f"backup of {target!r}")
        token = new_token()
        cur.execute("SELECT GET_LOCK(%s, 0)", (lock_name(token),))
        scratch = scratch_name(target, token)
        cur.execute(f"CREATE DATABASE {quote(scratch)}" + _charset_of(cur, target))
        try:
            _load(path, url, scratch, source)
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote(target)}")
        except BaseException:
            cur.execute(f"DROP DATABASE IF EXISTS {quote(scratch)}")
            raise
        swap_in(cur, target, scratch, token)
    finally:
        conn.close()  # also releases the lock
    return {"target": target, "content": content, "swapped": True}


def _charset_of(cur: Any, name: str) -> str:
    """``CHARACTER SET ... COLLATE ...`` of database ``name`` (empty when it does not exist)."""
    cur.execute("SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
                "WHERE schema_name = %s", (name,))
    rows = cur.fetchall()
    return f" CHARACTER SET {rows[0][0]} COLLATE {rows[0][1]}" if rows else ""


def _load(path: str, url: DatabaseURL, database: str, source: IO[bytes]) -> None:
    with defaults_file(url) as cnf:
        argv = [path, f"--defaults-extra-file={cnf}", "--binary-mode", "--default-character-set=utf8mb4",
                "--batch", f"--database={database}"]
        stream_in(argv, base_env(), source, secrets=[url.password])
