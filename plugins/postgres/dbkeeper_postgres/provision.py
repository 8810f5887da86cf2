"""Private PostgreSQL servers for tests: this plugin's implementation of the core's provisioning points.

The core's :mod:`dbkeeper.testing.provision` declares ``start_server`` and
runs the processes; this module knows PostgreSQL: where ``initdb`` and
``postgres`` live, the settings a throw-away cluster gets, and the set-up
statements. Why: monitoring reads ``pg_stat_statements``, which must be in
``shared_preload_libraries`` (a restart), and the shared test server is never
reconfigured. initdb takes about 0.7 s and the start 0.1 s on the CI machine.
PostgreSQL refuses to run as root, so root runs it as the ``postgres`` OS user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from dbkeeper.child_env import child_environment
from dbkeeper.testing.provision import (
    START_TIMEOUT,
    PrivateServer,
    PrivateServerUnavailable,
    RunAs,
    make_directory,
    newest_first,
    ready,
    run,
    start_listening,
    start_server,
)
from dbkeeper.urls import DatabaseURL

#: What an instance gets unless told otherwise: what monitoring's enabled path needs.
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


# -- finding the binaries ------------------------------------------------------------------------------
def postgres_bindir() -> Path:
    """The directory with ``initdb`` and ``postgres``: the newest ``/usr/lib/postgresql/*/bin``, else ``$PATH``."""
    candidates = newest_first(glob.glob("/usr/lib/postgresql/*/bin"))
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


# -- the server -------------------------------------------------------------------------------------------
@start_server.for_dialect("postgres")
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
    run_as = RunAs.service("postgres")
    directory = make_directory("postgres", run_as)
    log = directory / "server.log"
    data = directory / "data"
    try:
        run(
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

        process, url = start_listening(build, run_as, directory, log, timeout)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    server = PrivateServer("postgres", url, directory, process, log, stop_signal=signal.SIGINT)
    return ready(server, began, [(url.with_database(database),
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
