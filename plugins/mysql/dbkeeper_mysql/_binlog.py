"""Which key ranges of which tables changed since a backup, read from the server's binary log.

InnoDB shows no row versions (PostgreSQL's ``xmin``), so an incremental
cannot ask the tables what changed without reading every row. The binary
log can tell: with ``binlog_format=ROW`` every committed insert, update and
delete is logged with its rows, in commit order. A chainable backup records
the binary log position of its snapshot (MariaDB's ``Binlog_snapshot_file``
and ``Binlog_snapshot_position``, which ``START TRANSACTION WITH CONSISTENT
SNAPSHOT`` sets without any lock) and the GTID position it stands for. The
next incremental reads the log from there to its own snapshot's position
with ``mariadb-binlog --read-from-remote-server --verbose`` and maps the
primary key of every logged row (before and after an update) to the key
range holding it; a range no logged row falls in holds the base's rows.

The log proves nothing, and every range is exported, when (the result says
which):

* the server has no binary log, or it is not MariaDB (MySQL has no snapshot
  position), or the base recorded none;
* the base's position is gone (``PURGE BINARY LOGS``, ``RESET MASTER``: the
  GTID position of the base's file and offset no longer matches), or the log
  is filtered (``binlog_do_db``, ``binlog_ignore_db``);
* the log holds, anywhere on the server, a statement (``Query``) event in the
  interval: DDL, or changes logged as statements (``binlog_format`` other than
  ``ROW``), or any event this reader does not know (``LOAD DATA`` blocks, XA);
* the account lacks ``BINLOG MONITOR`` or ``REPLICATION SLAVE``, or the tool fails;
* the log between the two positions is larger than the tracked tables
  (``data_length``): parsing it would cost more than reading their rows.

A logged insert whose row image lacks the key (a ``binlog_row_image=MINIMAL``
corner) marks its whole table changed. Tables whose rows change without a
row event are never tracked (the caller leaves them out): children of a
foreign key with a cascading or ``SET NULL``/``SET DEFAULT`` action (InnoDB
applies those itself and logs only the parent's rows). Changes made with
``sql_log_bin=0`` are not logged at all, so no binary-log reader sees them:
do not use that on a database whose incrementals skip unchanged ranges.

The tool's text is parsed line by line. Row values are printed with control
characters escaped (``\\x0a``), and an annotated statement (``#Q>``) is
prefixed on every line, so text inside a value or a statement cannot pose as
an event header or a row line; a line that looks like an event header but
does not parse stops the reading (everything is exported).
"""

from __future__ import annotations

import bisect
import contextlib
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymysql.err import MySQLError as _MySQLError

from dbkeeper.backup.tools import base_env
from dbkeeper.contract.session import Session
from dbkeeper.redaction import redact
from dbkeeper_mysql._sessions import error_reason

_HEADER = re.compile(rb"#\d{6} +\d{1,2}:\d\d:\d\d server id \d+ +end_log_pos (\d+)[^\t]*\t([A-Za-z_]+)")
_HEADER_START = re.compile(rb"#\d{6} ")
#: Event types that change no table data (and row events, handled apart).
_HARMLESS = {b"Start", b"Format_desc", b"Gtid", b"GTID", b"Binlog", b"Annotate_rows", b"Table_map", b"Xid",
             b"Rotate", b"Stop"}
_ROW_EVENT = re.compile(rb"(Write|Update|Delete)_rows(_compressed)?(_v1)?")
#: How each logged row starts, and the image of it that must show its key (an update's after image only does
#: when the key changed).
_ROW_START = {b"### INSERT INTO ": "SET", b"### UPDATE ": "WHERE", b"### DELETE FROM ": "WHERE"}
_VALUE = re.compile(rb"###   @(\d+)=(-?\d+)(?: \((\d+)\))?")
#: A name the tool prints unambiguously between backticks.
_PLAIN_NAME = re.compile(r"[^`\x00-\x1f\x7f]+")


@dataclass
class TrackedTable:
    """A ranged table whose changes are looked up in the log."""

    name: str
    #: 1-based position of the (single, integer) key column among all the table's columns: the log's ``@n``.
    ordinal: int
    unsigned: bool
    #: Inner bounds of the key ranges (see :func:`dbkeeper_mysql.incremental._clauses`).
    bounds: list[int]
    changed: set[int] = field(default_factory=set)

    def mark(self, key: int) -> None:
        self.changed.add(bisect.bisect_right(self.bounds, key))

    def mark_all(self) -> None:
        self.changed.update(range(len(self.bounds) + 1))

    @property
    def all_changed(self) -> bool:
        return len(self.changed) > len(self.bounds)


def plain_name(name: str) -> bool:
    """Whether the tool prints ``name`` so that it can be recognised (no backtick or control character)."""
    return bool(_PLAIN_NAME.fullmatch(name))


def snapshot_position(output: bytes, connection: Session) -> dict[str, Any] | None:
    """The binary log position of a snapshot from ``SHOW STATUS LIKE 'binlog_snapshot_%'`` output, or ``None``.

    ``None`` when the server logs nothing (an empty file name) or is not
    MariaDB. The GTID position the file and offset stand for is recorded
    with them (``None`` when the server cannot say), so a later reader can
    tell the log was reset since.
    """
    values = dict(line.split(b"\t", 1) for line in output.splitlines() if b"\t" in line)
    name = values.get(b"Binlog_snapshot_file", b"").decode("utf-8", "replace")
    position = values.get(b"Binlog_snapshot_position", b"0")
    if not name or not position.isdigit():
        return None
    try:
        with _cursor(connection) as cursor:
            gtid = _gtid_at(cursor, name, int(position))
    except _MySQLError:
        gtid = None
    return {"file": name, "position": int(position), "gtid": gtid}


@contextlib.contextmanager
def _cursor(connection: Session) -> Iterator[Any]:
    """A cursor on a connection of its own (the caller's may be in use on another thread), closed afterwards."""
    raw: Any = connection.dialect.connect(connection.url, autocommit=True)
    try:
        yield raw.cursor()
    finally:
        raw.close()


def _gtid_at(cursor: Any, name: str, position: int) -> str | None:
    cursor.execute("SELECT BINLOG_GTID_POS(%s, %s)", (name, position))
    value = cursor.fetchone()[0]
    return None if value is None else str(value)


class BinlogChanges:
    """Reads the log between two positions on a thread; :meth:`result` gives what changed.

    ``argv`` is the tool with its connection options (``--defaults-extra-file``).
    :meth:`close` stops a reading still running (an abandoned backup).
    With ``budget`` (bytes: the tracked tables' size), a log interval larger
    than that is not read: parsing it would cost more than reading the rows.
    """

    def __init__(self, argv: Sequence[str], connection: Session, base: dict[str, Any] | None,
                 current: dict[str, Any] | None, tracked: Iterable[TrackedTable], *, database: str,
                 secrets: Sequence[str | None], budget: int | None = None) -> None:
        self._budget = budget
        self._argv = list(argv)
        self._connection = connection
        self._base = base
        self._current = current
        self._by_name = {t.name: t for t in tracked}
        self._tables = {f"`{database}`.`{t.name}`".encode(): t for t in self._by_name.values()}
        self._secrets = list(secrets)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._done = threading.Event()
        self._reason: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dbkeeper-binlog", daemon=True)

    def start(self) -> BinlogChanges:
        self._thread.start()
        return self

    def result(self) -> str | None:
        """Wait for the reading; ``None`` when it succeeded (see :meth:`unchanged`), else why the log proves nothing."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._reason

    def unchanged(self, name: str, number: int) -> bool:
        """Whether range ``number`` of table ``name`` holds the base's rows (after :meth:`result` gave ``None``)."""
        if self.result() is not None:
            return False
        table = self._by_name.get(name)
        return table is not None and number not in table.changed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
        self._thread.join()

    def _run(self) -> None:
        try:
            self._reason = self._read()
        except OSError as exc:  # the tool could not be started: the backup goes on without reuse
            self._reason = f"the binary log reader could not run: {redact(str(exc), self._secrets)}"
        except BaseException as exc:  # handed to whoever waits on the result
            self._error = exc
        finally:
            self._done.set()

    def _files(self) -> list[str] | str:
        """The log files from the base's to the current one, or why they cannot be read."""
        base, current = self._base, self._current
        if current is None:
            return "the server keeps no binary log (log_bin=OFF) or is not MariaDB"
        if base is None:
            return "the base backup recorded no binary log position"
        try:
            with _cursor(self._connection) as cursor:
                if base.get("gtid") is None or _gtid_at(cursor, base["file"], base["position"]) != base["gtid"]:
                    return "the binary log was reset or purged since the base backup"
                cursor.execute("SHOW BINARY LOGS")
                logs = [(str(r[0]), int(r[1])) for r in cursor.fetchall()]  # name, size
                cursor.execute("SHOW MASTER STATUS")
                status = cursor.fetchall()  # File, Position, Binlog_Do_DB, Binlog_Ignore_DB
        except _MySQLError as exc:
            return f"the binary log cannot be read: {error_reason(exc, self._secrets)}"
        names = [name for name, _ in logs]
        if status and (status[0][2] or status[0][3]):
            return "the binary log is filtered (binlog_do_db / binlog_ignore_db)"
        if base["file"] not in names or current["file"] not in names:
            return "the binary log was purged since the base backup"
        first, last = names.index(base["file"]), names.index(current["file"])
        if first > last or (first == last and base["position"] > current["position"]):
            return "the binary log position went backwards since the base backup"
        between = sum(size for _, size in logs[first:last]) - int(base["position"]) + int(current["position"])
        if self._budget is not None and between > self._budget:
            return (f"the binary log since the base backup ({between >> 20} MiB) is larger than the tables whose "
                    f"reading it would spare ({self._budget >> 20} MiB)")
        return names[first:last + 1]

    def _read(self) -> str | None:
        files = self._files()
        if isinstance(files, str):
            return files
        base, current = self._base, self._current
        assert base is not None
        assert current is not None
        if files == [base["file"]] and base["position"] == current["position"]:
            return None  # nothing was committed in between
        argv = [*self._argv, "--read-from-remote-server", "--base64-output=DECODE-ROWS", "--verbose",
                f"--start-position={int(base['position'])}", f"--stop-position={int(current['position'])}", *files]
        with tempfile.TemporaryFile() as stderr:
            with self._lock:
                if self._closed:
                    return "the backup was abandoned"
                self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=base_env())
            assert self._proc.stdout is not None
            finished = False
            try:
                reason, end = self._parse(self._proc.stdout)
                finished = True
            finally:
                if not finished or reason is not None or end is None:  # the rest is not wanted
                    self._proc.kill()
                self._proc.stdout.close()
                code = self._proc.wait()
            if reason is not None or end is None:
                return reason
            if code != 0:
                stderr.seek(0)
                text = redact(stderr.read(4000).decode("utf-8", "replace").strip(), self._secrets)
                return f"{Path(argv[0]).name} failed (exit code {code}): {text or 'no error output'}"
            if end != int(current["position"]):  # the last event read must end where the snapshot stands
                return f"{Path(argv[0]).name} stopped at position {end}, not at the snapshot's {current['position']}"
        return None

    def _parse(self, lines: Iterable[bytes]) -> tuple[str | None, int | None]:
        """Mark the ranges the logged rows fall in.

        Returns why the log proves nothing (or ``None``) and where the last
        event read ends: ``None`` when reading stopped early because every
        tracked range has changed anyway.
        """
        table: TrackedTable | None = None  # the tracked table of the row being read, if any
        end = 0
        required = image = ""  # the image that must show the current row's key; the image being read
        seen: set[str] = set()  # images of the current row that showed the key

        def close_row() -> None:  # a row whose required image did not show the key: its table changed anywhere
            nonlocal table
            if table is not None and required not in seen:
                table.mark_all()
            table = None

        for raw in lines:
            line = raw.rstrip(b"\n")
            if line.startswith(b"###"):
                if line.startswith(b"###   @"):
                    if table is not None and (value := _VALUE.fullmatch(line)) and int(value[1]) == table.ordinal:
                        table.mark(int(value[3]) if table.unsigned and value[3] else int(value[2]))
                        seen.add(image)
                    continue
                if line in (b"### SET", b"### WHERE"):
                    image = line[4:].decode()
                    continue
                close_row()
                for prefix, must_show_key in _ROW_START.items():
                    if line.startswith(prefix):
                        table = self._tables.get(line[len(prefix):])
                        required, image = must_show_key, ""
                        seen.clear()
                        break
                else:
                    return "the binary log holds a row line this reader does not know", end
                continue
            close_row()
            if _HEADER_START.match(line):
                header = _HEADER.match(line)
                if header is None:
                    return "the binary log holds an event header this reader does not know", end
                event = header[2]
                if event == b"Query":
                    return ("the binary log holds statements since the base backup (DDL, or changes logged as "
                            "statements: binlog_format=ROW lets incrementals skip unchanged ranges)"), end
                if event not in _HARMLESS and not _ROW_EVENT.fullmatch(event):
                    return f"the binary log holds a {event.decode('ascii')} event", end
                end = int(header[1]) or end  # 0: an event the server makes up when a file starts (Rotate)
                if self._tables and all(t.all_changed for t in self._tables.values()):
                    return None, None  # every range is exported anyway: no need to read on
        close_row()
        return None, end
