"""Client sessions that share one snapshot: the workers of the parallel chainable MySQL dump.

MySQL has no snapshot export (PostgreSQL's ``pg_export_snapshot``), so
sessions are synchronised the way ``mydumper`` does it: a coordinator takes
``FLUSH TABLES WITH READ LOCK`` (no commit can happen while it is held),
every worker session runs ``START TRANSACTION WITH CONSISTENT SNAPSHOT``, and
the coordinator runs ``UNLOCK TABLES`` at once. The sessions are opened and
set up before the lock is taken, so the lock is held only for one round trip
per worker (milliseconds): see :func:`synchronise`.

A worker session is one ``mariadb``/``mysql`` client process fed statements
on its stdin, not a PyMySQL connection. Both print the same bytes, but
PyMySQL decodes every row in Python under the GIL: 1,000,000 rows took
3.5 s of Python CPU whether one, two or four threads read them, so a second
worker gained nothing. The client prints rows in C; this process only moves
pipe buffers. Each batch of statements is followed by ``SELECT '<marker>'``
with a marker unique to that batch: the batch's output ends where the
marker's line appears. No row line can be mistaken for it, because every
row line ends with ``)`` or ``;`` (values have their newlines escaped), and
the marker line ends with a digit.

Credentials stay in the ``--defaults-extra-file`` (never in argv); the
client's error output is redacted before it reaches a message.
"""

from __future__ import annotations

import contextlib
import os
import secrets as _secrets
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dbkeeper.backup.errors import ToolError
from dbkeeper.backup.export import Emit
from dbkeeper.backup.tools import widen_pipe
from dbkeeper.contract.session import Session
from dbkeeper.redaction import redact

#: Bytes handed to the ordered writer at a time (and read from a client's stdout at most).
BLOCK = 1 << 20
#: Seconds the coordinator waits for ``FLUSH TABLES WITH READ LOCK`` (``lock_wait_timeout``). The lock waits
#: for running writes (a long ``UPDATE``) and blocks new writes while it waits, so the wait is kept short;
#: when it runs out, the dump falls back to one session instead of failing.
LOCK_WAIT_TIMEOUT = 5
#: ``net_write_timeout`` and ``wait_timeout`` of worker sessions, in seconds (the largest value MySQL accepts).
#: A worker whose output is not wanted yet stops reading rows (bounded memory); with the default 60 s the
#: server would drop it. A worker whose parts are done sits idle until the last part is written.
SESSION_TIMEOUT = 31_536_000


class SnapshotUnavailable(Exception):
    """The sessions could not be given one snapshot; ``str()`` says why (already redacted)."""


class ClientSession:
    """One ``mariadb``/``mysql`` client process, driven batch by batch through its stdin.

    Used by one thread at a time. A batch that fails or is abandoned midway
    kills the process (its unread output would corrupt the next batch), and
    every later batch fails at once.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], secrets: Sequence[str | None]) -> None:
        self._name = Path(argv[0]).name
        self._secrets = list(secrets)
        self._token = _secrets.token_hex(8)
        self._batches = 0
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the session; closed by kill()
        self._proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                      env=dict(env))
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._stdin = self._proc.stdin
        self._stdout_file = self._proc.stdout
        self._stdout = self._stdout_file.fileno()
        widen_pipe(self._stdout_file)
        self._broken = False

    def run(self, statements: Sequence[str], emit: Emit | None = None) -> None:
        """Run ``statements``; pass their output to ``emit`` in blocks of about :data:`BLOCK` bytes.

        Output is discarded when ``emit`` is ``None`` (set-up statements print nothing).
        """
        if self._broken:
            raise ToolError(f"{self._name} session was abandoned after an earlier failure")
        self._batches += 1
        marker = f"-- dbkeeper {self._token} {self._batches}"
        end = marker.encode() + b"\n"
        script = "".join(f"{s};\n" for s in statements) + f"SELECT '{marker}';\n"
        done = False
        try:
            try:
                self._stdin.write(script.encode("utf-8"))
                self._stdin.flush()
            except BrokenPipeError:
                raise self._failure() from None
            buf = bytearray()
            keep = len(end)  # never hand out bytes that may be the start of the marker
            while not buf.endswith(end):
                piece = os.read(self._stdout, BLOCK)
                if not piece:
                    raise self._failure()
                buf += piece
                if len(buf) >= BLOCK + keep:
                    if emit is not None:
                        emit(bytes(memoryview(buf)[:-keep]))
                    del buf[:-keep]
            if emit is not None and len(buf) > keep:
                emit(bytes(memoryview(buf)[:-keep]))
            done = True
        finally:
            if not done:
                self.kill()

    def _failure(self) -> ToolError:
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            code = self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        self._stderr.seek(0)
        text = self._stderr.read(BLOCK).decode("utf-8", "replace")
        # Reading from stdin, the client echoes the failed statement (one whole SELECT) before the error line.
        errors = [line for line in text.splitlines() if line.startswith("ERROR")]
        text = "\n".join(errors) if errors else text.strip()[-2000:]
        return ToolError(f"{self._name} failed (exit code {code}): {redact(text, self._secrets) or 'no error output'}")

    def close(self) -> None:
        """End the session: the client quits at the end of its input (a read-only transaction needs no COMMIT)."""
        if not self._broken:
            with contextlib.suppress(OSError):
                self._stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=30)
        self.kill()

    def kill(self) -> None:
        """Stop the client now (a failed or abandoned batch); idempotent."""
        self._broken = True
        with contextlib.suppress(OSError):
            self._stdin.close()
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=30)
        with contextlib.suppress(OSError):
            self._stdout_file.close()
        self._stderr.close()


def open_sessions(argv: Sequence[str], env: Mapping[str, str], secrets: Sequence[str | None], count: int,
                  setup: Sequence[str]) -> list[ClientSession]:
    """Start ``count`` client sessions and run ``setup`` in each (before any lock is taken).

    Raises :class:`SnapshotUnavailable` when one cannot be opened (for instance
    ``max_user_connections``): the dump then goes on in one session.
    """
    sessions: list[ClientSession] = []
    try:
        for _ in range(count):
            sessions.append(ClientSession(argv, env, secrets))
        for session in sessions:
            session.run(setup)
    except (ToolError, OSError) as exc:
        for session in sessions:
            session.kill()
        raise SnapshotUnavailable(f"could not open {count} client sessions: {redact(str(exc), secrets)}") from None
    return sessions


def synchronise(connection: Session, sessions: Sequence[ClientSession],
                secrets: Sequence[str | None]) -> float:
    """Give every session the same consistent snapshot; return how long writes were blocked (seconds).

    ``FLUSH TABLES WITH READ LOCK`` needs the ``RELOAD`` privilege and waits
    for running writes; when it is refused or its wait runs out
    (:data:`LOCK_WAIT_TIMEOUT`), :class:`SnapshotUnavailable` says why.
    ``UNLOCK TABLES`` runs whatever happens once the lock is held.
    """
    from pymysql import err

    try:
        coordinator: Any = connection.dialect.connect(connection.url, autocommit=True)
    except err.MySQLError as exc:
        raise SnapshotUnavailable(f"could not open the coordinator session: {error_reason(exc, secrets)}") from None
    try:
        cursor = coordinator.cursor()
        try:
            cursor.execute(f"SET SESSION lock_wait_timeout = {int(LOCK_WAIT_TIMEOUT)}")
            cursor.execute("FLUSH TABLES WITH READ LOCK")
        except err.MySQLError as exc:
            raise SnapshotUnavailable(f"FLUSH TABLES WITH READ LOCK failed: {error_reason(exc, secrets)}") from None
        start = time.perf_counter()
        try:
            for session in sessions:
                session.run(["START TRANSACTION WITH CONSISTENT SNAPSHOT"])
        except ToolError as exc:
            raise SnapshotUnavailable(f"a session could not start its snapshot: {redact(str(exc), secrets)}") \
                from None
        finally:
            with contextlib.suppress(err.MySQLError):  # closing the coordinator below releases the lock anyway
                cursor.execute("UNLOCK TABLES")
        return time.perf_counter() - start
    finally:
        with contextlib.suppress(Exception):
            coordinator.close()


def error_reason(exc: BaseException, secrets: Sequence[str | None]) -> str:
    """A PyMySQL error as ``(code) message``, redacted: for a result that says why something was skipped."""
    args = exc.args
    text = f"({args[0]}) {args[1]}" if len(args) >= 2 and isinstance(args[0], int) else str(exc)
    return redact(text, secrets)
