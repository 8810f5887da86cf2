"""SQL fragments of a definition must each be one expression (or, for a view, one query).

Check expressions, SQL defaults, generated-column expressions and view
bodies are pasted into DDL as written, so a check of
``a > 0); DROP TABLE users; --`` would render as
``CHECK (a > 0); DROP TABLE users; --)``: two statements and a comment that
eats the closing parenthesis. :func:`check_fragment` refuses a fragment with
a ``;`` outside literals and comments, unbalanced parentheses, an unclosed
quote or block comment, or a line comment that runs to its end.

The lexing is the project's own statement splitter's (:mod:`dbkeeper.sql.split`:
quotes, doubled quotes, comments), so fragments are read the way scripts
are; no SQL parser library reads all three dialects' expressions.
"""

from __future__ import annotations

from dbkeeper.schema.errors import SchemaFragmentError
from dbkeeper.sql.split import _CLOSE, _COMMENT, _DELIM, _OPEN, ANSI, _Scanner

#: Appended to a fragment while scanning: it survives as its own token only if every quote and comment closed.
_SENTINEL = "\x00"


def fragment_problem(text: str) -> str | None:
    """What stops ``text`` from being one expression, or ``None`` when it is one."""
    scanned = f"{text} {_SENTINEL}"  # a space, not a newline: a line comment must end inside the fragment
    sentinel_at = len(scanned) - 1
    depth = 0
    last_kind, last_start = -1, 0
    for kind, start, end in _Scanner(scanned, ANSI).tokens():
        last_kind, last_start = kind, start
        if end > sentinel_at and start < sentinel_at:  # a token ran over the end of the fragment: it never closed
            if kind == _COMMENT:
                return f"the comment at character {start + 1} is not closed"
            return f"the quote at character {start + 1} is not closed"
        if kind == _DELIM:
            return f"it holds a ';' (character {start + 1}) outside any literal: one expression, one statement"
        if kind == _OPEN:
            depth += 1
        elif kind == _CLOSE:
            depth -= 1
            if depth < 0:
                return f"the ')' at character {start + 1} closes a parenthesis that was never opened"
    if last_kind == -1 or last_start != sentinel_at:
        return "it does not end where it should"  # defensive: the sentinel was swallowed without a token
    if depth > 0:
        return f"{depth} parenthes{'is is' if depth == 1 else 'es are'} not closed"
    return None


def check_fragment(text: str, location: str) -> None:
    """Raise :class:`SchemaFragmentError` naming ``location`` unless ``text`` is one expression."""
    problem = fragment_problem(text)
    if problem is not None:
        raise SchemaFragmentError(f"{location}: the SQL {text!r} is not one expression: {problem}; "
                                  "fix the fragment (DDL pastes it as written)", location)
