"""Small scanners for the SQL text SQLite keeps in ``sqlite_master``.

SQLite's catalog pragmas do not report check constraints, generated-column
expressions or ``AUTOINCREMENT``; the CREATE statement does. These helpers
walk that text while respecting string literals and quoted identifiers, so a
``CHECK`` inside a string or a column called ``"check"`` is not mistaken for
a constraint.
"""

from __future__ import annotations

import re

_QUOTES = {"'": "'", '"': '"', "`": "`", "[": "]"}
_IDENT = r'(?:"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(]+)'
_VIEW = re.compile(r"^\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _IDENT
                   + r"\s*(?:\([^)]*\)\s*)?AS\s+(.*)$", re.IGNORECASE | re.DOTALL)


def _skip_quoted(text: str, i: int) -> int:
    """Index just after the quoted token starting at ``i``."""
    close = _QUOTES[text[i]]
    j = i + 1
    while j < len(text):
        if text[j] == close:
            if close != "]" and j + 1 < len(text) and text[j + 1] == close:
                j += 2
                continue
            return j + 1
        j += 1
    return j


def matching_paren(text: str, start: int) -> int:
    """Index of the ``)`` that closes the ``(`` at ``start``."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch in _QUOTES:
            i = _skip_quoted(text, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(text)


def table_body(sql: str) -> str:
    """The text between the outer parentheses of ``CREATE TABLE name (...)``."""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in _QUOTES:
            i = _skip_quoted(sql, i)
            continue
        if ch == "(":
            return sql[i + 1:matching_paren(sql, i)]
        i += 1
    return ""


def split_top_level(body: str) -> list[str]:
    """Split a table body at its top-level commas (column definitions and table constraints)."""
    parts: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(body):
        ch = body[i]
        if ch in _QUOTES:
            i = _skip_quoted(body, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
        i += 1
    if body[start:].strip():
        parts.append(body[start:].strip())
    return parts


def unquote(name: str) -> str:
    """An identifier without its quotes."""
    if len(name) >= 2 and name[0] in _QUOTES and name[-1] == _QUOTES[name[0]]:
        inner = name[1:-1]
        return inner.replace(name[0] * 2, name[0]) if name[0] != "[" else inner
    return name


def leading_identifier(item: str) -> tuple[str, str]:
    """The first identifier of ``item`` (unquoted) and the rest of the text."""
    match = re.match(r"\s*(" + _IDENT + r")(.*)$", item, re.DOTALL)
    if not match:
        return "", item
    return unquote(match.group(1)), match.group(2)


def find_keyword_paren(text: str, keyword_pattern: str) -> list[tuple[int, str]]:
    """Every ``KEYWORD (...)`` outside quotes: (position of the keyword, text inside the parentheses)."""
    pattern = re.compile(r"\b(?:" + keyword_pattern + r")\s*\(", re.IGNORECASE)
    found: list[tuple[int, str]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _QUOTES:
            i = _skip_quoted(text, i)
            continue
        match = pattern.match(text, i)
        if match and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_at = match.end() - 1
            close = matching_paren(text, open_at)
            found.append((i, text[open_at + 1:close].strip()))
            i = close + 1
            continue
        i += 1
    return found


def constraint_name_before(text: str, position: int) -> str | None:
    """The name in ``CONSTRAINT name`` right before ``position``, if there is one."""
    match = re.search(r"\bCONSTRAINT\s+(" + _IDENT + r")\s*$", text[:position], re.IGNORECASE)
    return unquote(match.group(1)) if match else None


def contains_keyword(text: str, keyword: str) -> bool:
    """True when ``keyword`` occurs outside quotes."""
    i = 0
    pattern = re.compile(r"\b" + keyword + r"\b", re.IGNORECASE)
    while i < len(text):
        ch = text[i]
        if ch in _QUOTES:
            i = _skip_quoted(text, i)
            continue
        if pattern.match(text, i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            return True
        i += 1
    return False


def view_definition(sql: str) -> str:
    """The SELECT of a ``CREATE VIEW`` statement."""
    match = _VIEW.match(sql)
    return match.group(1).strip() if match else sql
