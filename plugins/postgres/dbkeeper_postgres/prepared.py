"""Repeated statements run as server-side prepared statements through libpq, below psycopg's cursor.

Why: a one-row primary-key ``SELECT`` through psycopg's ``Cursor.execute``
and ``fetchall`` costs about 69,000 CPU instructions in Python on this
machine (query conversion, the prepared-statement bookkeeping, a generator
per wait, result selection, a row maker), as much as the server's work and
the network round trip together. The same statement sent with
``PGconn.send_query_prepared`` and read back with the connection's own
``Transformer`` costs a fraction of that and returns the same Python values,
because it uses the same adapters, formats and loaders:

* parameters are dumped by ``Transformer.dump_sequence`` with
  ``PyFormat.AUTO``, as the cursor does for ``%s``; the statement is
  prepared with the types that gives (a later call whose values dump to
  other types gets a prepared statement of its own), as psycopg does;
* results are requested in text format and loaded by
  ``Transformer.load_rows``, as the cursor's default does;
* errors become the exceptions psycopg raises (``errors.error_from_result``);
* after a ``SET client_encoding`` (checked on every run, as the session
  reports it) texts, values and names are encoded the new way, as a new
  psycopg cursor would.

What it takes on, and what stays with the cursor (``run`` returns ``None``):

* only statements psycopg would prepare (``SELECT``, ``INSERT``,
  ``UPDATE``, ``DELETE``, ``WITH``, ``VALUES``), with positional ``%s``
  placeholders (``%%`` for a percent sign) and a tuple or list of values;
* only from the connection's ``prepare_threshold``-th run of the same text
  (psycopg's default 5; ``prepare_threshold=none`` in the URL, needed
  behind PgBouncer in transaction mode, turns it off): a statement run once
  costs no extra round trip for its ``PREPARE``;
* only while the session is idle (not inside a transaction block), so a
  ``PREPARE`` that fails (a syntax error, a missing table) cannot abort a
  transaction: the cursor then runs the statement and reports the error.

The wait for the server is ``select`` on the socket, so Ctrl-C interrupts a
long statement: the runner cancels it on the server, reads the session back
to idle and re-raises. When a prepared statement has gone from the server
(``DEALLOCATE ALL``, ``DISCARD ALL``), the runner forgets its statements;
when a plan can no longer return the same columns (``ALTER TABLE`` under
``SELECT *``), it drops that statement; either way the cursor runs this
one.
"""

from __future__ import annotations

import select
from typing import Any

#: libpq ExecStatus values (stable parts of the libpq ABI).
_COMMAND_OK, _TUPLES_OK, _FATAL_ERROR = 1, 2, 7
#: libpq PGTransactionStatusType IDLE: no transaction block open.
_IDLE = 0
#: SQLSTATE of a prepared statement that no longer exists (invalid_sql_statement_name), and of
#: "cached plan must not change result type" (feature_not_supported).
_GONE, _PLAN_CHANGED = b"26000", b"0A000"
#: PGTransactionStatusType ACTIVE: a command is in progress.
_ACTIVE = 1
#: Statement kinds PostgreSQL can prepare.
_PREPARABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES")
#: Distinct statement texts remembered per connection (counts and conversions), and statements kept prepared.
_MAX_TEXTS = 1000
_MAX_PREPARED = 256
_SQLSTATE_FIELD = 0x43  # PG_DIAG_SQLSTATE, 'C'


#: client_encoding name (as libpq reports it) -> Python codec, filled on first sight.
_CODECS: dict[bytes | None, str] = {}


def python_encoding(conn: Any) -> str:
    """The Python codec of the session's client_encoding as libpq reports it now (a ``SET`` changes it).

    Mapped once per name: ``connection.info.encoding`` builds a
    ``ConnectionInfo`` object on every call.
    """
    name = conn.pgconn.parameter_status(b"client_encoding")
    encoding = _CODECS.get(name)
    if encoding is None:
        encoding = _CODECS[name] = conn.info.encoding
    return encoding


def column_names(result: Any, encoding: str) -> list[str]:
    """A libpq result's column names (``cursor.description`` would build a ``Column`` object per column)."""
    return [result.fname(i).decode(encoding) for i in range(result.nfields)]


def numbered(sql: str) -> str | None:
    """``sql`` with psycopg's positional ``%s`` placeholders as ``$1``, ``$2``, ...; ``None`` if it has others.

    psycopg reads every ``%`` of a statement with parameters, inside string
    literals too: ``%%`` is a percent sign, ``%s`` a value, and ``%(name)s``,
    ``%b`` and ``%t`` are forms this runner leaves to the cursor.
    """
    head, *parts = sql.split("%")
    out = [head]
    n = 0
    escaped = False
    for part in parts:
        if escaped:  # the part after "%%"
            out.append(part)
            escaped = False
        elif not part:  # "%%": the next part is literal text
            out.append("%")
            escaped = True
        elif part[0] == "s":
            n += 1
            out.append(f"${n}{part[1:]}")
        else:
            return None
    return "".join(out) if not escaped else None


class PreparedRunner:
    """Runs repeated statements of one psycopg connection as prepared statements (module docstring)."""

    def __init__(self, raw: Any, threshold: int, encoding: str) -> None:
        from psycopg import errors
        from psycopg.adapt import PyFormat, Transformer

        self.raw = raw
        self.pgconn = raw.pgconn
        self.threshold = max(threshold, 1)
        self.encoding = encoding
        self._client_encoding = self.pgconn.parameter_status(b"client_encoding")
        self._new_transformer = Transformer
        self.transformer = Transformer(raw)
        self._auto = PyFormat.AUTO
        self._error_from_result = errors.error_from_result
        #: statement text -> [runs so far, its $n form encoded (None: the cursor runs it), placeholders]
        self._texts: dict[str, list[Any]] = {}
        #: ($n text, parameter types) -> prepared statement name
        self._prepared: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self._counter = 0

    # -- the hot path ------------------------------------------------------------------------------
    def run(self, sql: str, params: Any) -> tuple[list[str] | None, list[Any], int] | None:
        """``(column names or None, row tuples, rowcount)``, or ``None``: the cursor should run it."""
        entry = self._texts.get(sql)
        if entry is None:
            entry = self._learn(sql)
        entry[0] += 1
        query = entry[1]
        if query is None or entry[0] < self.threshold or self.pgconn.transaction_status != _IDLE:
            return None
        kind = type(params)
        if (kind is not tuple and kind is not list) or len(params) != entry[2]:
            return None  # named values, or a count psycopg would refuse: the cursor raises its error
        if self.pgconn.parameter_status(b"client_encoding") != self._client_encoding:
            self._encoding_changed()
            return None  # this run through the cursor; statement texts are re-encoded from the next one
        tx = self.transformer
        values = tx.dump_sequence(params, [self._auto] * len(params))
        key = (query, tx.types)
        name = self._prepared.get(key)
        if name is None:
            name = self._prepare(query, tx.types)
            if name is None:
                entry[1] = None  # the server cannot prepare it: the cursor runs it from now on
                return None
        pgconn = self.pgconn
        pgconn.send_query_prepared(name, values, param_formats=tx.formats)
        result = self._result()
        status = result.status
        if status == _TUPLES_OK:
            tx.set_pgresult(result)
            columns = column_names(result, self.encoding)
            rows = tx.load_rows(0, result.ntuples, tuple)
            count = result.command_tuples
            return columns, rows, count if count is not None else -1
        if status == _COMMAND_OK:
            count = result.command_tuples
            return None, [], count if count is not None else -1
        if status == _FATAL_ERROR:
            state = result.error_field(_SQLSTATE_FIELD)
            if state == _GONE:  # DEALLOCATE ALL or DISCARD ALL ran: none of ours is left
                self._prepared.clear()
                return None
            if state == _PLAN_CHANGED:  # "cached plan must not change result type": replan through the cursor
                self._deallocate(self._prepared.pop(key))
                return None
        raise self._error(result)

    # -- helpers ----------------------------------------------------------------------------------
    def _encoding_changed(self) -> None:
        """``SET client_encoding`` ran: encode texts and values, and decode names, the new way from now on."""
        self._client_encoding = self.pgconn.parameter_status(b"client_encoding")
        self.encoding = python_encoding(self.raw)
        self.transformer = self._new_transformer(self.raw)
        self._texts.clear()
        self._prepared.clear()  # keyed by the old encoding's bytes; the server-side statements stay valid

    def _learn(self, sql: str) -> list[Any]:
        if len(self._texts) >= _MAX_TEXTS:
            self._texts.clear()
        query = numbered(sql) if sql.lstrip()[:6].upper().startswith(_PREPARABLE) else None
        entry = self._texts[sql] = [0, query.encode(self.encoding) if query is not None else None,
                                    sql.replace("%%", "").count("%s")]
        return entry

    def _prepare(self, query: bytes, types: tuple[int, ...]) -> bytes | None:
        """Prepare ``query`` for these parameter types; ``None`` if the server refuses (nothing is open)."""
        if len(self._prepared) >= _MAX_PREPARED:  # drop the oldest
            self._deallocate(self._prepared.pop(next(iter(self._prepared))))
        self._counter += 1
        name = b"_dbk_%d" % self._counter
        self.pgconn.send_prepare(name, query, param_types=types)
        if self._result().status != _COMMAND_OK:
            return None
        self._prepared[(query, types)] = name
        return name

    def _deallocate(self, name: bytes) -> None:
        """Free one prepared statement on the server (an error, e.g. it is gone already, is ignored)."""
        self.pgconn.send_query(b"DEALLOCATE " + name)
        self._result()

    def _error(self, result: Any) -> Exception:
        return self._error_from_result(result, encoding=self.encoding)  # type: ignore[no-any-return]

    def _result(self) -> Any:
        """The command's result, read until the session is idle again; Ctrl-C cancels the command."""
        pgconn = self.pgconn
        try:
            while pgconn.flush():
                select.select([], [pgconn.socket], [])
            result = self._next()
            while self._next() is not None:  # one command, one result: read up to ReadyForQuery
                pass
        except BaseException:
            if pgconn.transaction_status == _ACTIVE:
                self._cancel()
            raise
        if result is None:
            raise self._lost()
        return result

    def _next(self) -> Any:
        pgconn = self.pgconn
        pgconn.consume_input()
        while pgconn.is_busy():
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        return pgconn.get_result()

    def _cancel(self) -> None:
        """Stop the server's work on the current command and read the session back to idle."""
        try:
            self.raw.cancel_safe(timeout=5.0)
            while self.pgconn.get_result() is not None:
                pass
        except Exception:  # the connection is unusable: let psycopg's next call report it
            self.raw.close()

    def _lost(self) -> Exception:
        from psycopg import OperationalError

        return OperationalError(f"the connection is lost: {self.pgconn.get_error_message(self.encoding)}")
