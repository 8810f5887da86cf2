"""Running external dump and restore tools (pg_dump, mariadb-dump, ...) safely.

Dialect plugins use these helpers so every tool is run the same way:
credentials in the child's environment or in a 0600 file in a private temp
directory (never in argv), stdout copied into the sink in 1 MiB pieces (never
the whole dump in memory), stderr spooled to a temp file (no pipe deadlock)
and redacted before it reaches an error message. A failure kills the child.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from dbkeeper.backup.errors import ToolError
from dbkeeper.child_env import child_environment
from dbkeeper.redaction import redact

PIECE = 1 << 20


def find_tool(names: Sequence[str], install_hint: str) -> str:
    """The path of the first of ``names`` on ``PATH``, or a :class:`ToolError` saying what to install."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise ToolError(f"{' or '.join(names)} not found on PATH; {install_hint}")


def version_tuple(text: str) -> tuple[int, ...]:
    """The first dotted version number in ``text`` as a tuple (``(15, 4)``); ``()`` when none."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return ()
    return tuple(int(g) for g in match.groups() if g is not None)


def tool_version(path: str, *args: str) -> str:
    """The tool's ``--version`` output, first line."""
    try:
        out = subprocess.run([path, *(args or ("--version",))], capture_output=True, text=True, timeout=30,
                             check=False, env=child_environment())
    except OSError as exc:
        raise ToolError(f"cannot run {path}: {exc.strerror}") from None
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""


@contextlib.contextmanager
def private_dir() -> Iterator[Path]:
    """A 0700 temp directory for option and password files, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="dbkeeper-tool-") as tmp:
        os.chmod(tmp, 0o700)
        yield Path(tmp)


def write_private(path: Path, text: str) -> Path:
    """Create ``path`` with mode 0600 and write ``text`` (a password or options file)."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _fail(name: str, code: int, stderr: IO[bytes], secrets: Sequence[str | None]) -> ToolError:
    stderr.seek(0)
    text = stderr.read(8192).decode("utf-8", "replace").strip()
    return ToolError(f"{name} failed (exit code {code}): {redact(text, secrets) or 'no error output'}")


def widen_pipe(fileobj: IO[bytes] | None) -> None:
    """Grow a pipe to 1 MiB on Linux (``F_SETPIPE_SZ``): fewer wake-ups between us and the tool."""
    if fileobj is None:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        import fcntl

        fcntl.fcntl(fileobj.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIECE)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(Exception):
        proc.wait(timeout=30)


def stream_out(argv: Sequence[str], env: Mapping[str, str], sink: IO[bytes], *,
               secrets: Sequence[str | None] = ()) -> None:
    """Run ``argv`` and copy its stdout into ``sink``; raise :class:`ToolError` on a non-zero exit."""
    name = Path(argv[0]).name
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                env=dict(env))
        assert proc.stdout is not None
        widen_pipe(proc.stdout)
        try:
            while piece := proc.stdout.read(PIECE):
                sink.write(piece)
        except BaseException:
            _kill(proc)
            raise
        proc.stdout.close()
        code = proc.wait()
        if code != 0:
            raise _fail(name, code, stderr, secrets)


def stream_in(argv: Sequence[str], env: Mapping[str, str], source: IO[bytes], *,
              secrets: Sequence[str | None] = ()) -> None:
    """Run ``argv`` feeding ``source`` to its stdin; a failing source kills the tool before it finishes."""
    name = Path(argv[0]).name
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
                                env=dict(env))
        assert proc.stdin is not None
        widen_pipe(proc.stdin)
        try:
            while piece := source.read(PIECE):
                proc.stdin.write(piece)
            proc.stdin.close()
        except BrokenPipeError:
            code = proc.wait()
            raise _fail(name, code, stderr, secrets) from None
        except BaseException:
            _kill(proc)
            raise
        code = proc.wait()
        if code != 0:
            raise _fail(name, code, stderr, secrets)


def base_env() -> dict[str, str]:
    """The environment for a client tool before its own variables: the allowlist of :mod:`dbkeeper.child_env`.

    Nothing else of the parent's reaches the tool: no backup passphrase or
    key, and no ``PGHOST``/``MYSQL_HOST``/... that would redirect it elsewhere.
    """
    return child_environment()
