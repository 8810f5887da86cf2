"""Which roles a PostgreSQL dump needs, and which of them the server lacks.

A faithful restore (the default) keeps owners and grants, as ``pg_restore``
does. Roles are cluster-wide and not in a database dump, so restoring onto
another server can fail on ``ALTER ... OWNER TO`` or ``GRANT ... TO`` a role
that does not exist there. The roles are read from the archive's table of
contents, before anything is created: ``pg_restore --schema-only --file=-``
prints the owner and ACL statements from the TOC alone and exits without
reading the table data, so only the head of the stream is read (and kept, to
be replayed to the real ``pg_restore``).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from typing import IO

from dbkeeper.backup.errors import RestoreTargetError, ToolError
from dbkeeper.backup.tools import PIECE, widen_pipe
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.redaction import redact

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_OWNER = re.compile(rf"\bOWNER TO ({_IDENT})")
_FOR_ROLE = re.compile(rf"\bFOR ROLE ({_IDENT}(?:, {_IDENT})*)")
_GRANTEES = re.compile(rf"^(?:GRANT|REVOKE) .* (?:TO|FROM) ({_IDENT}(?:, {_IDENT})*)"
                       rf"(?: WITH (?:GRANT|ADMIN) OPTION)?(?: GRANTED BY ({_IDENT}))?;$")
_SPLIT = re.compile(_IDENT)
#: Role specifications that are not role names.
_PSEUDO = {"PUBLIC", "CURRENT_USER", "SESSION_USER", "CURRENT_ROLE"}


class Replay:
    """A byte source that yields ``head`` first, then the rest of ``source``."""

    def __init__(self, head: bytes, source: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._source = source

    def read(self, size: int = -1) -> bytes:
        """Like ``IO.read``: up to ``size`` bytes, ``b""`` at the end."""
        if self._head:
            n = len(self._head) if size < 0 else min(size, len(self._head))
            piece, self._head = bytes(self._head[:n]), self._head[n:]
            return piece
        return self._source.read(size)


def _names(text: str) -> list[str]:
    out = []
    for token in _SPLIT.findall(text):
        if token.startswith('"'):
            out.append(token[1:-1].replace('""', '"'))
        elif token.upper() not in _PSEUDO:
            out.append(token.lower())
    return out


def roles_in_script(script: Iterable[str]) -> set[str]:
    """Role names a restore script (``pg_restore --schema-only --file=-``) uses as owners or grantees."""
    roles: set[str] = set()
    for line in script:
        for pattern in (_OWNER, _FOR_ROLE):
            for match in pattern.finditer(line):
                roles.update(_names(match[1]))
        grant = _GRANTEES.match(line)
        if grant:
            roles.update(_names(grant[1]))
            if grant[2]:
                roles.update(_names(grant[2]))
    return roles


def read_needed_roles(pg_restore: str, env: Mapping[str, str], source: IO[bytes],
                      secrets: Iterable[str | None]) -> tuple[set[str], bytes]:
    """The roles the archive in ``source`` needs, and the bytes read from ``source`` to find out."""
    head = bytearray()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([pg_restore, "--schema-only", "--file=-"], stdin=subprocess.PIPE, stdout=out,
                                stderr=err, env=dict(env))
        assert proc.stdin is not None
        widen_pipe(proc.stdin)
        try:
            while piece := source.read(PIECE):
                head += piece
                proc.stdin.write(piece)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it has read the table of contents and exited: the expected way to finish
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        code = proc.wait()
        if code != 0:
            err.seek(0)
            text = redact(err.read(4096).decode("utf-8", "replace").strip(), list(secrets))
            raise ToolError(f"pg_restore could not read the archive's table of contents (exit code {code}): {text}")
        out.seek(0)
        roles = roles_in_script(line.decode("utf-8", "replace").rstrip("\n") for line in out)
    return roles, bytes(head)


def roles_in_schema(pg_restore: str, env: Mapping[str, str], schema: bytes) -> set[str]:
    """:func:`read_needed_roles` for an archive already in memory (the ordered format's schema part)."""
    proc = subprocess.run([pg_restore, "--schema-only", "--file=-"], input=schema, capture_output=True, env=dict(env),
                          check=False)
    if proc.returncode != 0:
        raise ToolError(f"pg_restore could not read the schema's table of contents (exit code {proc.returncode})")
    return roles_in_script(proc.stdout.decode("utf-8", "replace").splitlines())


def check_roles(admin: DatabaseConnection, needed: set[str], target: str) -> None:
    """Refuse, naming them, when roles the dump needs are missing on the server (nothing changed yet)."""
    if not needed:
        return
    present = {str(r["name"]) for r in admin.execute(
        "SELECT rolname AS name FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)", (sorted(needed),)).rows}
    missing = sorted(needed - present)
    if missing:
        raise RestoreTargetError(
            f"the backup needs roles this server lacks: {', '.join(missing)} (it uses {', '.join(sorted(needed))}); "
            f"nothing was changed in {target!r}. Create the missing roles (roles are cluster-wide, not in the "
            "backup), or restore with --portable (portable=True): objects then belong to the restoring user and "
            "no grants are restored")
