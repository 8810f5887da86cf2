"""Private MariaDB servers for tests: this plugin's implementation of the core's provisioning points.

The core's :mod:`dbkeeper.testing.provision` declares ``start_server`` and
runs the processes; this module knows MariaDB: ``mariadb-install-db`` and
``mariadbd``, the options a throw-away server gets, and the set-up
statements. Why: monitoring reads ``performance_schema`` (``ON`` only at
start-up) and MySQL incrementals read a row-based binary log; the shared test
server has neither and is never restarted. mariadb-install-db takes about
0.7 s and the start 0.3 s on the CI machine. Root runs it as the ``mysql`` OS
user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dbkeeper.child_env import child_environment
from dbkeeper.testing.provision import (
    START_TIMEOUT,
    PrivateServer,
    PrivateServerUnavailable,
    RunAs,
    make_directory,
    ready,
    run,
    start_listening,
    start_server,
)
from dbkeeper.urls import DatabaseURL

#: mariadbd options: performance_schema with statement digests and per-index I/O counting on,
#: each named explicitly so a distribution's different defaults cannot switch them off.
MARIADB_OPTIONS = (
    "--performance-schema=ON",
    "--performance-schema-consumer-statements-digest=ON",
    "--performance-schema-instrument=wait/io/table/sql/handler=ON",
    "--innodb-buffer-pool-size=64M",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-doublewrite=0",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    "--max-connections=50",
)
#: Extra mariadbd options for a server with a row-based binary log, as a production server with replication or
#: point-in-time recovery has (what MySQL incrementals read to skip unchanged key ranges).
MARIADB_BINLOG_OPTIONS = ("--log-bin=mariadb-bin", "--binlog-format=ROW", "--server-id=1")


# -- finding the binaries ------------------------------------------------------------------------------
def mariadb_binaries() -> tuple[Path, Path]:
    """``(mariadbd, mariadb-install-db)``. Oracle MySQL (``mysqld --initialize``) is not supported here."""
    server = next(
        (
            Path(p)
            for p in (
                shutil.which("mariadbd"),
                "/usr/sbin/mariadbd",
                "/usr/libexec/mariadbd",
                shutil.which("mysqld"),
                "/usr/sbin/mysqld",
            )
            if p and os.access(p, os.X_OK)
        ),
        None,
    )
    install = next((Path(p) for p in (shutil.which("mariadb-install-db"), shutil.which("mysql_install_db")) if p), None)
    if server is None or install is None:
        raise PrivateServerUnavailable("MariaDB server binaries (mariadbd and mariadb-install-db) not found")
    version = subprocess.run([str(server), "--version"], capture_output=True, text=True, check=False,
                             env=child_environment()).stdout
    if "mariadb" not in version.lower():
        raise PrivateServerUnavailable(
            f"{server} is not MariaDB ({version.strip()}); private servers "
            "are started with mariadb-install-db, which only MariaDB has"
        )
    return server, install


# -- the server --------------------------------------------------------------------------------------------------
@start_server.for_dialect("mysql")
def start_mariadb(*, options: Sequence[str] = MARIADB_OPTIONS, timeout: float = START_TIMEOUT) -> PrivateServer:
    """A fresh MariaDB server on a free port, ``root`` without a password, an empty ``test`` database.

    ``options`` are mariadbd options after ``--no-defaults`` (no option file
    is read); the default :data:`MARIADB_OPTIONS` switch performance_schema
    on. The admin URL is ``mysql://root@127.0.0.1:<port>/test``. Stop it with
    :meth:`PrivateServer.stop`.
    """
    began = time.monotonic()
    server_binary, install = mariadb_binaries()
    run_as = RunAs.service("mysql")
    directory = make_directory("mariadb", run_as)
    log = directory / "server.log"
    data = directory / "data"
    socket_path = directory / "mysqld.sock"
    try:
        run(
            [
                str(install),
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                # Its bootstrap server's temporary tables, in /tmp by default, clashed with a concurrent one's
                # ("Unknown table 'mysql.tmp_user_sys'") when two test workers started servers at once.
                f"--tmpdir={directory}",
            ],
            run_as,
            directory,
            log,
            "mariadb-install-db",
        )

        def build(port: int) -> tuple[list[str], DatabaseURL]:
            command = [
                str(server_binary),
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={socket_path}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={directory / 'mysqld.pid'}",
                f"--tmpdir={directory}",
                "--skip-log-bin",
                "--skip-name-resolve",
                *options,
            ]
            return command, DatabaseURL.parse(f"mysql://root@127.0.0.1:{port}/mysql")

        process, url = start_listening(build, run_as, directory, log, timeout)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    server = PrivateServer("mysql", url.with_database("test"), directory, process, log)
    return ready(server, began, [(url, ["CREATE DATABASE IF NOT EXISTS test"])])


@contextlib.contextmanager
def private_mariadb(
    *, options: Sequence[str] = MARIADB_OPTIONS, timeout: float = START_TIMEOUT
) -> Iterator[PrivateServer]:
    """:func:`start_mariadb` for a ``with`` block: stopped and removed when the block ends, however it ends."""
    server = start_mariadb(options=options, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()
