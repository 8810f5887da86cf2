"""Accept ``?`` and ``:name`` placeholders on every database.

Each DBAPI driver has its own placeholder style: sqlite3 takes ``?`` and
``:name``; psycopg and PyMySQL take ``%s`` and ``%(name)s``. dbkeeper accepts
the driver's own style unchanged *and* the portable ``?``/``:name`` styles,
rewriting the latter for ``pyformat`` drivers. Values are never formatted
into SQL: only placeholders are rewritten, and the driver binds the values.

The scanner understands quoted strings, quoted identifiers, comments,
PostgreSQL dollar quoting and ``::`` casts, so a ``?`` or ``:x`` inside them is
left alone. A statement that already uses ``%s``/``%(name)s`` is passed
through untouched (so PostgreSQL's ``?`` JSON operators keep working there).
Results are cached per statement text: the hot path pays one dict lookup.
"""

from __future__ import annotations

import re

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CACHE_LIMIT = 1024
_cache: dict[tuple[str, bool, bool], str] = {}


def to_pyformat(sql: str, *, named: bool, backslash_escapes: bool = False) -> str:
    """Rewrite ``?`` (``named=False``) or ``:name`` (``named=True``) placeholders to pyformat.

    Every literal ``%`` (also inside strings and comments) is doubled when
    anything is rewritten, because pyformat drivers scan the whole text for
    ``%`` placeholders. A statement
    with no portable placeholders, or with native ones, is returned unchanged.
    """
    key = (sql, named, backslash_escapes)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    result = _rewrite(sql, named=named, backslash_escapes=backslash_escapes)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = result
    return result


def _rewrite(sql: str, *, named: bool, backslash_escapes: bool) -> str:
    out: list[str] = []
    i, n = 0, len(sql)
    rewritten = False
    native = False
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            end = _end_of_quoted(sql, i, ch, backslash_escapes and ch != "`")
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif ch == "$" and (m := _DOLLAR_TAG.match(sql, i)) and not (i and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            tag = m.group(0)
            end = sql.find(tag, m.end())
            end = n if end == -1 else end + len(tag)
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif ch == "%":
            if sql.startswith("%s", i) or sql.startswith("%(", i) or sql.startswith("%b", i) or sql.startswith("%t", i):
                native = True
            out.append("%%")
            i += 1
        elif ch == "?" and not named:
            out.append("%s")
            rewritten = True
            i += 1
        elif ch == ":" and named:
            if sql.startswith("::", i):
                out.append("::")
                i += 2
                continue
            m = _NAME.match(sql, i + 1)
            if m and not (i and sql[i - 1] == ":"):
                out.append(f"%({m.group(0)})s")
                rewritten = True
                i = m.end()
            else:
                out.append(ch)
                i += 1
        else:
            out.append(ch)
            i += 1
    if not rewritten or native:
        return sql
    return "".join(out)


def _end_of_quoted(sql: str, start: int, quote: str, backslash_escapes: bool) -> int:
    """Index just past the quoted run that starts at ``start`` (doubled quotes stay inside)."""
    i, n = start + 1, len(sql)
    while i < n:
        ch = sql[i]
        if backslash_escapes and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n
