"""Provisioning points for tests: the core declares them, each dialect plugin fills them in.

SQLAlchemy's ``testing/provision.py`` is the model: the core's test support
boots no particular server. It holds the machinery every private server
needs (a temporary directory owned by the service user, a process group of
its own, a free loopback port retried when taken, waiting until it answers,
a stop that leaves nothing behind) and the provisioning point
:data:`start_server`; a plugin fills the point for its dialect in its own
``<package>.provision`` module::

    # dbkeeper_postgres/provision.py
    from dbkeeper.testing.provision import start_server

    @start_server.for_dialect("postgres")
    def start_postgres(*, preload=..., settings=None, timeout=START_TIMEOUT) -> PrivateServer: ...

``start_server("postgres", **options)`` imports that module on first use
(found through the registered dialect's package, so a third-party plugin
provides ``<its package>.provision`` the same way), and raises
:class:`PrivateServerUnavailable` when no plugin provides the point.

Why private servers exist: some tests need a server setting the shared ones
lack and only a restart changes (``pg_stat_statements`` preloaded, MariaDB's
``performance_schema``); the shared test servers serve every other test and
are never reconfigured. Start-up is about a second per server, so a test
session can afford one per pytest-xdist worker. Root runs the servers as the
dialect's service user (servers refuse root); anyone else as themselves. A
machine without the binaries raises :class:`PrivateServerUnavailable` (a
test skips, or fails under ``DBKEEPER_REQUIRE_SERVERS=1``); a server that has
the binaries but does not come up raises :class:`PrivateServerError` with the
end of its log, so a broken start is never mistaken for a missing server.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dbkeeper.child_env import child_environment
from dbkeeper.errors import DbKeeperError
from dbkeeper.urls import DatabaseURL

#: Seconds a server gets to answer, generous for a loaded two-core CI machine.
START_TIMEOUT = 60.0
_ADDRESS_IN_USE = re.compile(r"address already in use|could not bind|bind on tcp/ip port", re.I)
_F = TypeVar("_F", bound=Callable[..., Any])


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
    #: What asks the server to shut down (PostgreSQL: SIGINT, a fast shutdown; most servers: SIGTERM).
    stop_signal: signal.Signals = signal.SIGTERM
    _stopped: bool = field(default=False, repr=False)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for error messages."""
        return tail(self.log, lines)

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the server down, kill whatever is left of its process group, and delete its directory.

        The server gets its :attr:`stop_signal` (the plugin's provisioning
        chooses it: PostgreSQL's SIGINT is a *fast* shutdown, where SIGTERM
        would wait for every client to disconnect). A clean shutdown frees
        the shared memory a server holds; SIGKILL is the fallback only.
        Safe to call twice.
        """
        if self._stopped:
            return
        self._stopped = True
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        terminate(self.process, self.stop_signal, timeout)
        shutil.rmtree(self.directory, ignore_errors=True)


_RUNNING: set[PrivateServer] = set()
_RUNNING_LOCK = threading.Lock()


def ready(server: PrivateServer, began: float, setup: Sequence[tuple[DatabaseURL, Sequence[str]]]) -> PrivateServer:
    """Register a listening ``server`` (stopped at exit), run its set-up statements, stop it if they fail."""
    with _RUNNING_LOCK:
        _RUNNING.add(server)
    try:
        for url, statements in setup:
            execute(url, statements)
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


# -- version order of binary directories ---------------------------------------------------------------
def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


# -- processes ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunAs:
    """Who runs the server: a service user when we are root (servers refuse root), else ourselves."""

    uid: int | None = None
    gid: int | None = None
    name: str = ""

    @classmethod
    def service(cls, user: str) -> RunAs:
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


def make_directory(kind: str, run_as: RunAs) -> Path:
    """A fresh temporary directory for one server, owned by the user it runs as."""
    directory = Path(tempfile.mkdtemp(prefix=f"dbkeeper-{kind}-", dir=_base_directory()))
    run_as.own(directory)
    return directory


def free_port() -> int:
    """A port nobody listens on right now (a race with other processes is retried by the callers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in child_environment().items() if not k.startswith(("PG", "MYSQL", "MARIADB"))}
    env.update({"HOME": str(directory), "LC_ALL": "C", "LANG": "C"})
    return env


def spawn(command: list[str], run_as: RunAs, directory: Path, log: Path) -> subprocess.Popen[bytes]:
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


def run(command: list[str], run_as: RunAs, directory: Path, log: Path, what: str) -> None:
    """Run an initialisation command to completion (killed after ``START_TIMEOUT``)."""
    process = spawn(command, run_as, directory, log)
    try:
        code = process.wait(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        terminate(process, signal.SIGKILL, 5.0)
        raise PrivateServerError(f"{what} did not finish within {START_TIMEOUT:g} s:\n{tail(log)}") from None
    if code != 0:
        raise PrivateServerError(f"{what} failed (exit {code}):\n{tail(log)}")


def terminate(process: subprocess.Popen[bytes], first: signal.Signals, timeout: float) -> None:
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


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until_answering(process: subprocess.Popen[bytes], url: DatabaseURL, log: Path, timeout: float) -> bool:
    """True once ``url`` answers ``SELECT 1``; False when the process exited first. Raises on timeout."""
    from dbkeeper.engine.connection import DatabaseConnection

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
                    f"the private server did not answer at {url.render()} within {timeout:.0f} s:\n{tail(log)}"
                ) from None
        time.sleep(0.05)


def start_listening(
    build: Callable[[int], tuple[list[str], DatabaseURL]], run_as: RunAs, directory: Path, log: Path, timeout: float
) -> tuple[subprocess.Popen[bytes], DatabaseURL]:
    """Start the server on a free port until it answers; another free port when the first was taken meanwhile."""
    for _attempt in range(3):
        command, url = build(free_port())
        process = spawn(command, run_as, directory, log)
        try:
            if _wait_until_answering(process, url, log, timeout):
                return process, url
        except BaseException:
            terminate(process, signal.SIGKILL, 5)
            raise
        terminate(process, signal.SIGKILL, 5)
        if not _ADDRESS_IN_USE.search(tail(log, 10)):
            break
    raise PrivateServerError(f"the private server exited during start-up:\n{tail(log)}")


def execute(url: DatabaseURL, statements: Sequence[str]) -> None:
    """Run set-up ``statements`` on ``url`` through one unrecorded connection."""
    from dbkeeper.engine.connection import DatabaseConnection

    with DatabaseConnection.from_url(
        url, name="private-server-setup", connection_pool_size=1, max_retries=0, record_queries=False
    ) as conn:
        for statement in statements:
            conn.execute(statement)


# -- provisioning points --------------------------------------------------------------------------------------
class ProvisioningPoint:
    """One operation the core's test support declares and each dialect plugin implements for itself.

    ``@point.for_dialect("name")`` registers a plugin's implementation;
    calling ``point("name", **options)`` runs it, importing the dialect's
    ``<package>.provision`` module first when nothing is registered yet.
    """

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc
        self._implementations: dict[str, Callable[..., Any]] = {}

    def for_dialect(self, dialect: str) -> Callable[[_F], _F]:
        """Decorator: the implementation of this point for ``dialect`` (its registered name)."""
        def register(function: _F) -> _F:
            self._implementations[dialect] = function
            return function
        return register

    def implementation(self, dialect: str) -> Callable[..., Any]:
        """The implementation for ``dialect``; :class:`PrivateServerUnavailable` when no plugin provides one."""
        if dialect not in self._implementations:
            _import_provision_module(dialect)
        try:
            return self._implementations[dialect]
        except KeyError:
            raise PrivateServerUnavailable(
                f"no installed plugin provisions {self.name!r} for dialect {dialect!r} "
                f"(a plugin provides it in its <package>.provision module)") from None

    def __call__(self, dialect: str, **options: Any) -> Any:
        return self.implementation(dialect)(**options)

    def __repr__(self) -> str:
        return f"<ProvisioningPoint {self.name} for {sorted(self._implementations)}>"


def _import_provision_module(dialect: str) -> None:
    """Import ``<package>.provision`` of the plugin that registered ``dialect``, when it has one."""
    from dbkeeper.engine.plugins import get_registry
    from dbkeeper.errors import UnsupportedDatabaseError

    try:
        dialect_class = type(get_registry().get_dialect(dialect))
    except UnsupportedDatabaseError as exc:
        raise PrivateServerUnavailable(f"the {dialect} dialect is not installed: {exc}") from None
    package = dialect_class.__module__.split(".", 1)[0]
    try:
        importlib.import_module(f"{package}.provision")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.provision":
            raise


start_server = ProvisioningPoint("start_server", """Start a private server of a dialect: a :class:`PrivateServer`.

Called as ``start_server("postgres", preload=(...))``; the options are the
plugin's (see its ``provision`` module). The server is registered to stop at
interpreter exit; stop it earlier with :meth:`PrivateServer.stop`.""")


@contextlib.contextmanager
def private_server(dialect: str, **options: Any) -> Iterator[PrivateServer]:
    """:data:`start_server` for a ``with`` block: stopped and removed when the block ends, however it ends."""
    server: PrivateServer = start_server(dialect, **options)
    try:
        yield server
    finally:
        server.stop()


def newest_first(paths: Sequence[str]) -> list[str]:
    """``paths`` sorted by the version numbers in them, newest first (``/usr/lib/postgresql/16/bin`` before 15)."""
    return sorted(paths, key=_version_key, reverse=True)
