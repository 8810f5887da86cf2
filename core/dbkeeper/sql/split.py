"""Split a SQL script into statements, the way the database's own client would.

A semicolon ends a statement only where the database would see it as a
terminator: not inside string literals, quoted identifiers, comments,
PostgreSQL dollar-quoted bodies, parentheses, or the ``BEGIN ... END`` body of
a trigger, procedure, function or event (so MySQL procedures need no
``DELIMITER`` and SQLite triggers split correctly). MySQL scripts that do use
the client's ``DELIMITER`` command are understood too.

Dialects choose the lexical rules through :class:`SplitOptions`; the presets
:data:`ANSI`, :data:`SQLITE`, :data:`POSTGRES` and :data:`MYSQL` cover the
shipped dialects (``Dialect.split_statements`` picks one). The scanner is a
single pass over the text that jumps over literals and comments with
``str.find``/regexes, so multi-megabyte data migrations split quickly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["ANSI", "MYSQL", "POSTGRES", "SQLITE", "SplitOptions", "keywords", "split_sql"]


@dataclass(frozen=True)
class SplitOptions:
    """The lexical rules of one SQL dialect, as far as splitting needs them.

    - ``dollar_quotes``: PostgreSQL ``$$ ... $$`` / ``$tag$ ... $tag$`` bodies.
    - ``e_strings``: PostgreSQL ``E'...'`` literals, where backslash escapes.
    - ``backslash_escapes``: backslash escapes in every ``'...'``/``"..."`` (MySQL).
    - ``backticks``: ```identifier``` quoting (MySQL, SQLite).
    - ``brackets``: ``[identifier]`` quoting (SQLite).
    - ``hash_comments``: ``# ...`` line comments (MySQL).
    - ``nested_comments``: ``/* /* */ */`` nests (PostgreSQL).
    - ``executable_comments``: ``/*! ... */`` is SQL, not a comment (MySQL).
    - ``delimiter_command``: the client's ``DELIMITER xx`` lines (MySQL).
    """

    dollar_quotes: bool = False
    e_strings: bool = False
    backslash_escapes: bool = False
    backticks: bool = True
    brackets: bool = False
    hash_comments: bool = False
    nested_comments: bool = False
    executable_comments: bool = False
    delimiter_command: bool = False


ANSI = SplitOptions()
SQLITE = SplitOptions(brackets=True)
POSTGRES = SplitOptions(dollar_quotes=True, e_strings=True, backticks=False, nested_comments=True)
MYSQL = SplitOptions(backslash_escapes=True, hash_comments=True, executable_comments=True, delimiter_command=True)

_WORD = re.compile(r"[^\W\d][\w$]*")
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d][\w]*)?\$")
_DELIMITER_LINE = re.compile(r"DELIMITER[ \t]+(\S+)[^\n]*(?:\n|$)", re.IGNORECASE)
_ROUTINE_WORDS = frozenset({"PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"})
_END_NOT_BLOCK = frozenset({"IF", "LOOP", "WHILE", "REPEAT", "FOR"})

# token kinds
_CONTENT, _COMMENT, _WORDTOK, _OPEN, _CLOSE, _DELIM, _DELIMITER_CMD = range(7)


class _Scanner:
    """Tokens of a script: only what splitting cares about, with their spans."""

    def __init__(self, text: str, options: SplitOptions) -> None:
        self.text = text
        self.options = options
        self.delimiter = ";"
        self.at_statement_start = True

    def tokens(self) -> Iterator[tuple[int, int, int]]:
        text, opts = self.text, self.options
        n = len(text)
        pos = 0
        while pos < n:
            c = text[pos]
            if c.isspace():
                pos += 1
                continue
            if opts.delimiter_command and self.at_statement_start and c in "dD":
                match = _DELIMITER_LINE.match(text, pos)
                if match and (pos == 0 or text[pos - 1] in "\n\r \t"):
                    self.delimiter = match.group(1)
                    yield _DELIMITER_CMD, pos, match.end()
                    pos = match.end()
                    continue
            delim = self.delimiter
            if c == delim[0] and text.startswith(delim, pos):
                yield _DELIM, pos, pos + len(delim)
                pos += len(delim)
                continue
            if (c == "-" and text.startswith("--", pos)) or (c == "#" and opts.hash_comments):
                end = text.find("\n", pos)
                end = n if end < 0 else end + 1
                yield _COMMENT, pos, end
                pos = end
                continue
            if c == "/" and text.startswith("/*", pos):
                end = self._block_comment_end(pos)
                executable = opts.executable_comments and (text.startswith("/*!", pos)
                                                           or text.startswith("/*M!", pos))
                yield (_CONTENT if executable else _COMMENT), pos, end
                pos = end
                continue
            if c == "'":
                escapes = opts.backslash_escapes
                if opts.e_strings and pos > 0 and text[pos - 1] in "eE" and not _is_ident_char(text, pos - 2):
                    escapes = True
                end = self._quoted_end(pos, "'", escapes)
                yield _CONTENT, pos, end
                pos = end
                continue
            if c == '"':
                end = self._quoted_end(pos, '"', opts.backslash_escapes)
                yield _CONTENT, pos, end
                pos = end
                continue
            if c == "`" and opts.backticks:
                end = self._quoted_end(pos, "`", False)
                yield _CONTENT, pos, end
                pos = end
                continue
            if c == "[" and opts.brackets:
                end = text.find("]", pos + 1)
                end = n if end < 0 else end + 1
                yield _CONTENT, pos, end
                pos = end
                continue
            if c == "$" and opts.dollar_quotes and not _is_ident_char(text, pos - 1):
                match = _DOLLAR_TAG.match(text, pos)
                if match:
                    tag = match.group(0)
                    close = text.find(tag, match.end())
                    end = n if close < 0 else close + len(tag)
                    yield _CONTENT, pos, end
                    pos = end
                    continue
            if c == "(":
                yield _OPEN, pos, pos + 1
                pos += 1
                continue
            if c == ")":
                yield _CLOSE, pos, pos + 1
                pos += 1
                continue
            match = _WORD.match(text, pos)
            if match:
                yield _WORDTOK, pos, match.end()
                pos = match.end()
                continue
            yield _CONTENT, pos, pos + 1
            pos += 1

    def _block_comment_end(self, pos: int) -> int:
        text = self.text
        if not self.options.nested_comments:
            end = text.find("*/", pos + 2)
            return len(text) if end < 0 else end + 2
        depth = 1
        i = pos + 2
        while True:
            opening = text.find("/*", i)
            closing = text.find("*/", i)
            if closing < 0:
                return len(text)
            if 0 <= opening < closing:
                depth += 1
                i = opening + 2
                continue
            depth -= 1
            i = closing + 2
            if depth <= 0:
                return i

    def _quoted_end(self, pos: int, quote: str, escapes: bool) -> int:
        text = self.text
        n = len(text)
        i = pos + 1
        while True:
            close = text.find(quote, i)
            if close < 0:
                return n
            if escapes:
                backslash = text.find("\\", i, close)
                if backslash >= 0:
                    i = backslash + 2
                    continue
            if close + 1 < n and text[close + 1] == quote:  # doubled quote: an escaped quote
                i = close + 2
                continue
            return close + 1


def _is_ident_char(text: str, index: int) -> bool:
    if index < 0:
        return False
    ch = text[index]
    return ch.isalnum() or ch in "_$"


def split_sql(sql: str, options: SplitOptions = ANSI) -> list[str]:
    """Split ``sql`` into statements (whitespace-trimmed, without their terminator).

    Fragments holding only whitespace and comments are dropped; comments
    inside or before a statement stay with it. ``DELIMITER`` lines (when
    ``options.delimiter_command``) are consumed, never returned.
    """
    scanner = _Scanner(sql, options)
    state = _StatementState()
    statements: list[str] = []
    start = 0
    for kind, tok_start, tok_end in scanner.tokens():
        if kind == _COMMENT:
            continue
        if kind == _DELIMITER_CMD or (kind == _DELIM and (scanner.delimiter != ";" or state.can_end())):
            if state.has_content:
                statements.append(sql[start:tok_start].strip())
            start = tok_end
            state = _StatementState()
            scanner.at_statement_start = True
            continue
        state.has_content = True
        scanner.at_statement_start = False
        if kind == _WORDTOK and scanner.delimiter == ";":
            state.word(sql[tok_start:tok_end].upper())
        else:
            state.other(kind)
    if state.has_content:
        statements.append(sql[start:].strip())
    return statements


class _StatementState:
    """Nesting inside the statement being scanned: parentheses and ``BEGIN ... END`` blocks.

    ``BEGIN`` opens a block only in the header of a routine (``CREATE
    PROCEDURE/FUNCTION/TRIGGER/EVENT``), inside another block, or as MariaDB's
    ``BEGIN NOT ATOMIC``; a statement that starts with plain ``BEGIN`` is a
    transaction. Inside a block ``CASE`` opens too, and ``END`` closes
    unless it is ``END IF``/``END LOOP``/``END WHILE``/``END REPEAT``, which is
    why the decision waits for the next token.
    """

    __slots__ = ("after_begin", "block", "first_word", "has_content", "paren", "pending_end", "routine")

    def __init__(self) -> None:
        self.has_content = False
        self.paren = 0
        self.block = 0
        self.first_word: str | None = None
        self.routine = False
        self.pending_end = False
        self.after_begin = False

    def can_end(self) -> bool:
        self._settle_end()
        return self.paren <= 0 and self.block <= 0

    def _settle_end(self) -> None:
        if self.pending_end:
            self.pending_end = False
            self.block -= 1

    def other(self, kind: int) -> None:
        self._settle_end()
        self.after_begin = False
        if kind == _OPEN:
            self.paren += 1
        elif kind == _CLOSE:
            self.paren = max(0, self.paren - 1)

    def word(self, word: str) -> None:
        if self.pending_end:
            self.pending_end = False
            if word in _END_NOT_BLOCK:
                return  # END IF / END LOOP ...: closes a construct that was never counted
            self.block -= 1
            if word == "CASE":
                return  # END CASE: the END closed the CASE
        if self.after_begin:
            self.after_begin = False
            if word == "NOT":
                self.block += 1  # MariaDB's anonymous BEGIN NOT ATOMIC ... END block
            return
        if self.first_word is None:
            self.first_word = word
            self.after_begin = word == "BEGIN"
            return
        if word in _ROUTINE_WORDS and self.first_word in ("CREATE", "ALTER"):
            self.routine = True
        if (word == "BEGIN" and (self.routine or self.block > 0)) or (word == "CASE" and self.block > 0):
            self.block += 1
        elif word == "END" and self.block > 0:
            self.pending_end = True


def keywords(statement: str, limit: int = 6, options: SplitOptions = ANSI) -> list[str]:
    """The first ``limit`` bare words of ``statement``, upper-cased, skipping comments.

    Used to classify statements (``CREATE INDEX CONCURRENTLY``, ``VACUUM``,
    MySQL DDL) without being fooled by a leading comment or a quoted name.
    Quoted identifiers and literals appear as the empty string, so positions
    stay meaningful.
    """
    words: list[str] = []
    for kind, start, end in _Scanner(statement, options).tokens():
        if kind in (_COMMENT, _DELIMITER_CMD):
            continue
        if kind == _WORDTOK:
            words.append(statement[start:end].upper())
        elif kind == _CONTENT:
            words.append("")
        else:
            continue
        if len(words) >= limit:
            break
    return words
