"""Throw-away private PostgreSQL and MariaDB servers, for tests that need a setting the shared ones lack.

Why this exists: the monitoring reads ``pg_stat_statements`` (it must be in
``shared_preload_libraries``) and MariaDB's ``performance_schema`` (it must be
``ON`` at startup). Both need a server restart, and the shared test servers
(:mod:`dbkeeper.testing.servers`) serve every other test, so they must never
be reconfigured or restarted. A test of those "enabled" paths gets its own
instance instead: ``initdb`` / ``mariadb-install-db`` into a temporary
directory, the server listening on ``127.0.0.1`` at a free port (and on a unix
socket in that directory), durability switched off because the data is thrown
away, then stopped and the directory removed.

Start-up is about a second per server (initdb 0.7 s + start 0.1 s;
mariadb-install-db 0.7 s + start 0.3 s on the CI machine), so a test session
can afford one per pytest-xdist worker; the fixtures in ``tests/conftest.py``
start one only when a test asks for it.

Root runs the servers as the ``postgres`` and ``mysql`` OS users (PostgreSQL
refuses to run as root); anyone else runs them as themselves. A machine
without the binaries raises :class:`PrivateServerUnavailable` (a test skips,
or fails under ``DBKEEPER_REQUIRE_SERVERS=1``); a server that has the binaries
but does not come up raises :class:`PrivateServerError` with the end of its
log, so a broken start is never mistaken for a missing server.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dbkeeper.child_env import child_environment
from dbkeeper.errors import DbKeeperError
from dbkeeper.urls import DatabaseURL

#: What a PostgreSQL instance gets unless told otherwise: what monitoring's enabled path needs.
POSTGRES_PRELOAD = ("pg_stat_statements",)
#: Settings for speed over safety (the data directory is deleted afterwards) and a small footprint.
POSTGRES_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "50",
    "track_io_timing": "on",
}
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
#: Seconds a server gets to answer, generous for a loaded two-core CI machine.
START_TIMEOUT = 60.0
_ADDRESS_IN_USE = re.compile(r"address already in use|could not bind|bind on tcp/ip port", re.I)


class PrivateServerUnavailable(Exception):
    """This machine cannot run the private server: a binary, the extension or the OS user is missing."""


class PrivateServerError(RuntimeError):
    """The binaries are there but the server did not initialise or come up; the message has its log."""


@dataclass(eq=False)
class PrivateServer:
    """A running private server: its admin ``url``, its ``directory`` (data, socket, log) and its process."""

    kind: str
    url: DatabaseURL
    directory: Path
    process: subprocess.Popen[bytes]
    log: Path
    #: Seconds from nothing (no directory) to answering queries.
    startup_seconds: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for error messages."""
        return _tail(self.log, lines)

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the server down, kill whatever is left of its process group, and delete its directory.

        PostgreSQL gets SIGINT (a *fast* shutdown: SIGTERM would wait for
        every client to disconnect), MariaDB SIGTERM. A clean shutdown frees
        the shared memory PostgreSQL holds; SIGKILL is the fallback only.
        Safe to call twice.
        """
        if self._stopped:
            return
        self._stopped = True
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        _terminate(self.process, signal.SIGINT if self.kind == "postgres" else signal.SIGTERM, timeout)
        shutil.rmtree(self.directory, ignore_errors=True)


_RUNNING: set[PrivateServer] = set()
_RUNNING_LOCK = threading.Lock()


def _ready(server: PrivateServer, began: float, setup: Sequence[tuple[DatabaseURL, Sequence[str]]]) -> PrivateServer:
    """Register a listening ``server`` (stopped at exit), run its set-up statements, stop it if they fail."""
    with _RUNNING_LOCK:
        _RUNNING.add(server)
    try:
        for url, statements in setup:
            _execute(url, statements)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = round(time.monotonic() - began, 3)
    return server


@atexit.register
def _stop_all() -> None:
    """Last resort when a test run ends without its fixture finalisers (an interrupted session)."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for server in running:
        server.stop()


# -- finding the binaries ------------------------------------------------------------------------------
def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def postgres_bindir() -> Path:
    """The directory with ``initdb`` and ``postgres``: the newest ``/usr/lib/postgresql/*/bin``, else ``$PATH``."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += ["/usr/local/pgsql/bin"]
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    for directory in candidates:
        if all(os.access(Path(directory, tool), os.X_OK) for tool in ("initdb", "postgres")):
            return Path(directory)
    raise PrivateServerUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found in "
        "/usr/lib/postgresql/*/bin, /usr/local/pgsql/bin or on PATH"
    )


def _check_postgres_libraries(bindir: Path, libraries: Sequence[str]) -> None:
    """Raise :class:`PrivateServerUnavailable` when a library to preload is not installed."""
    pg_config = bindir / "pg_config"
    if not libraries or not os.access(pg_config, os.X_OK):
        return  # cannot tell beforehand; a missing library then shows in the server's log
    pkglibdir = subprocess.run(
        [str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=False, env=child_environment()
    ).stdout.strip()
    for library in libraries:
        if pkglibdir and not Path(pkglibdir, f"{library}.so").exists():
            raise PrivateServerUnavailable(
                f"{library} is not installed in {pkglibdir} (on Debian/Ubuntu it comes with the postgresql package)"
            )


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


# -- processes ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RunAs:
    """Who runs the server: a service user when we are root (servers refuse root), else ourselves."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""

    @classmethod
    def service(cls, user: str) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise PrivateServerUnavailable(
                f"running as root needs the {user!r} OS user to run the server as, and there is none"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid, user)

    @property
    def extra_groups(self) -> list[int] | None:
        """No supplementary groups (not root's) for the service user; unchanged when we run as ourselves."""
        return None if self.uid is None else []

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def _base_directory() -> str:
    """Where the temporary directory goes: the temp dir when every parent is searchable by others, else /tmp.

    The server runs as another user when we are root, so it must be able to
    reach its directory (a ``TMPDIR`` under ``/root`` would not do).
    """
    base = Path(tempfile.gettempdir()).resolve()
    for parent in (base, *base.parents):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return "/tmp"
    return str(base)


def _make_directory(kind: str, run_as: _RunAs) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=f"dbkeeper-{kind}-", dir=_base_directory()))
    run_as.own(directory)
    return directory


def _free_port() -> int:
    """A port nobody listens on right now (a race with other processes is retried by the callers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in child_environment().items() if not k.startswith(("PG", "MYSQL", "MARIADB"))}
    env.update({"HOME": str(directory), "LC_ALL": "C", "LANG": "C"})
    return env


def _spawn(command: list[str], run_as: _RunAs, directory: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` as ``run_as`` in ``directory``, its output appended to ``log``, in a session (and
    process group) of its own, so all of it can be ended at once."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=directory,
            env=_environment(directory),
            start_new_session=True,
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=run_as.extra_groups,
        )


def _run(command: list[str], run_as: _RunAs, directory: Path, log: Path, what: str) -> None:
    """Run an initialisation command to completion (killed after ``START_TIMEOUT``)."""
    process = _spawn(command, run_as, directory, log)
    try:
        code = process.wait(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        _terminate(process, signal.SIGKILL, 5.0)
        raise PrivateServerError(f"{what} did not finish within {START_TIMEOUT:g} s:\n{_tail(log)}") from None
    if code != 0:
        raise PrivateServerError(f"{what} failed (exit {code}):\n{_tail(log)}")


def _terminate(process: subprocess.Popen[bytes], first: signal.Signals, timeout: float) -> None:
    """Ask the server to stop with ``first``; SIGKILL its process group if it does not within ``timeout``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(first)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # The server leads its own process group: whatever is left of it (PostgreSQL's backends) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until_answering(process: subprocess.Popen[bytes], url: DatabaseURL, log: Path, timeout: float) -> bool:
    """True once ``url`` answers ``SELECT 1``; False when the process exited first. Raises on timeout."""
    from dbkeeper.connection import DatabaseConnection

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            return False
        probe = DatabaseConnection.from_url(
            url, name="private-server-probe", connection_timeout=2, max_retries=0, record_queries=False
        )
        try:
            with probe:
                probe.execute("SELECT 1")
            return True
        except DbKeeperError:
            if time.monotonic() > deadline:
                raise PrivateServerError(
                    f"the private server did not answer at {url.render()} within {timeout:.0f} s:\n{_tail(log)}"
                ) from None
        time.sleep(0.05)


def _start_listening(
    build: Callable[[int], tuple[list[str], DatabaseURL]], run_as: _RunAs, directory: Path, log: Path, timeout: float
) -> tuple[subprocess.Popen[bytes], DatabaseURL]:
    """Start the server on a free port until it answers; another free port when the first was taken meanwhile."""
    for _attempt in range(3):
        command, url = build(_free_port())
        process = _spawn(command, run_as, directory, log)
        try:
            if _wait_until_answering(process, url, log, timeout):
                return process, url
        except BaseException:
            _terminate(process, signal.SIGKILL, 5)
            raise
        _terminate(process, signal.SIGKILL, 5)
        if not _ADDRESS_IN_USE.search(_tail(log, 10)):
            break
    raise PrivateServerError(f"the private server exited during start-up:\n{_tail(log)}")


def _execute(url: DatabaseURL, statements: Sequence[str]) -> None:
    from dbkeeper.connection import DatabaseConnection

    with DatabaseConnection.from_url(
        url, name="private-server-setup", connection_pool_size=1, max_retries=0, record_queries=False
    ) as conn:
        for statement in statements:
            conn.execute(statement)


# -- PostgreSQL -------------------------------------------------------------------------------------------
def start_postgres(
    *,
    preload: Sequence[str] = POSTGRES_PRELOAD,
    extensions: Sequence[str] = POSTGRES_PRELOAD,
    settings: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT,
) -> PrivateServer:
    """A fresh PostgreSQL cluster on a free port, superuser ``postgres`` with trust authentication.

    ``preload`` goes into ``shared_preload_libraries``; ``extensions`` are
    created in ``template1`` (so every database created later has them) and in
    ``postgres``. ``settings`` override :data:`POSTGRES_SETTINGS`. The admin
    URL is ``postgresql://postgres@127.0.0.1:<port>/postgres``. Stop it with
    :meth:`PrivateServer.stop`.
    """
    began = time.monotonic()
    bindir = postgres_bindir()
    _check_postgres_libraries(bindir, preload)
    run_as = _RunAs.service("postgres")
    directory = _make_directory("postgres", run_as)
    log = directory / "server.log"
    data = directory / "data"
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
            directory,
            log,
            "initdb",
        )
        values = {**POSTGRES_SETTINGS, **(settings or {})}
        if preload:
            values["shared_preload_libraries"] = ",".join(preload)

        def build(port: int) -> tuple[list[str], DatabaseURL]:
            options = {
                **values,
                "listen_addresses": "127.0.0.1",
                "port": str(port),
                "unix_socket_directories": str(directory),
            }
            command = [str(bindir / "postgres"), "-D", str(data)]
            for key, value in options.items():
                command += ["-c", f"{key}={value}"]
            return command, DatabaseURL.parse(f"postgresql://postgres@127.0.0.1:{port}/postgres")

        process, url = _start_listening(build, run_as, directory, log, timeout)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    server = PrivateServer("postgres", url, directory, process, log)
    return _ready(server, began, [(url.with_database(database),
                                   [f'CREATE EXTENSION IF NOT EXISTS "{name}"' for name in extensions])
                                  for database in ("template1", "postgres")])


@contextlib.contextmanager
def private_postgres(
    *,
    preload: Sequence[str] = POSTGRES_PRELOAD,
    extensions: Sequence[str] = POSTGRES_PRELOAD,
    settings: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT,
) -> Iterator[PrivateServer]:
    """:func:`start_postgres` for a ``with`` block: stopped and removed when the block ends, however it ends."""
    server = start_postgres(preload=preload, extensions=extensions, settings=settings, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()


# -- MariaDB --------------------------------------------------------------------------------------------------
def start_mariadb(*, options: Sequence[str] = MARIADB_OPTIONS, timeout: float = START_TIMEOUT) -> PrivateServer:
    """A fresh MariaDB server on a free port, ``root`` without a password, an empty ``test`` database.

    ``options`` are mariadbd options after ``--no-defaults`` (no option file
    is read); the default :data:`MARIADB_OPTIONS` switch performance_schema
    on. The admin URL is ``mysql://root@127.0.0.1:<port>/test``. Stop it with
    :meth:`PrivateServer.stop`.
    """
    began = time.monotonic()
    server_binary, install = mariadb_binaries()
    run_as = _RunAs.service("mysql")
    directory = _make_directory("mariadb", run_as)
    log = directory / "server.log"
    data = directory / "data"
    socket_path = directory / "mysqld.sock"
    try:
        _run(
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

        process, url = _start_listening(build, run_as, directory, log, timeout)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    server = PrivateServer("mysql", url.with_database("test"), directory, process, log)
    return _ready(server, began, [(url, ["CREATE DATABASE IF NOT EXISTS test"])])


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
