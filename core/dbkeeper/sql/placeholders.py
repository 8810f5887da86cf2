"""Accept ``?`` and ``:name`` placeholders on every database.

Each DBAPI driver has its own placeholder style: sqlite3 takes ``?`` and
``:name``; psycopg and PyMySQL take ``%s`` and ``%(name)s``; DuckDB and
asyncpg-like drivers take ``$1`` and ``$name``. dbkeeper accepts the driver's
own style unchanged *and* the portable ``?``/``:name`` styles, rewriting the
latter for the style the dialect declares in ``Dialect.paramstyle``:

==============  ======================  ==========================================
paramstyle      the driver takes        ``?`` / ``:name`` become
==============  ======================  ==========================================
``qmark``       ``?`` and ``:name``     themselves (nothing is rewritten)
``pyformat``    ``%s``, ``%(name)s``    ``%s`` / ``%(name)s`` (every ``%`` doubled)
``numeric``     ``:1``, ``:name``       ``:1``, ``:2``... / themselves
``dollar``      ``$1``, ``$name``       ``$1``, ``$2``... / ``$name``
==============  ======================  ==========================================

Values are never formatted into SQL: only placeholders are rewritten, and
the driver binds the values.

The scanner understands quoted strings, quoted identifiers, comments,
PostgreSQL dollar quoting and ``::`` casts, so a ``?`` or ``:x`` inside them is
left alone. A statement that already uses the driver's own placeholders (``%s``,
``$1``) is passed through untouched (so PostgreSQL's ``?`` JSON operators keep
working there).
Results are cached per statement text: the hot path pays one dict lookup.
"""

from __future__ import annotations

import re

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CACHE_LIMIT = 1024
_cache: dict[tuple[str, str, bool, bool], str] = {}
#: The styles :func:`to_driver_style` rewrites into ("qmark" drivers take the portable placeholders as they are).
REWRITTEN_STYLES = frozenset({"pyformat", "numeric", "dollar"})
#: Every style a dialect may declare.
PARAMSTYLES = frozenset({"qmark", *REWRITTEN_STYLES})


def to_pyformat(sql: str, *, named: bool, backslash_escapes: bool = False) -> str:
    """Rewrite ``?`` (``named=False``) or ``:name`` (``named=True``) placeholders to pyformat.

    Every literal ``%`` (also inside strings and comments) is doubled when
    anything is rewritten, because pyformat drivers scan the whole text for
    ``%`` placeholders. A statement
    with no portable placeholders, or with native ones, is returned unchanged.
    """
    return to_driver_style(sql, "pyformat", named=named, backslash_escapes=backslash_escapes)


def to_driver_style(sql: str, style: str, *, named: bool, backslash_escapes: bool = False) -> str:
    """Rewrite ``?`` (``named=False``) or ``:name`` (``named=True``) placeholders into ``style`` (see above).

    A statement with no portable placeholders, or with the driver's native
    ones, is returned unchanged; so is every statement for ``qmark``.
    """
    if style not in REWRITTEN_STYLES:
        return sql
    key = (sql, style, named, backslash_escapes)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    result = _rewrite(sql, style=style, named=named, backslash_escapes=backslash_escapes)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = result
    return result


def _rewrite(sql: str, *, style: str, named: bool, backslash_escapes: bool) -> str:
    pyformat = style == "pyformat"
    out: list[str] = []
    i, n = 0, len(sql)
    rewritten = False
    native = False
    position = 0

    def verbatim(text: str) -> str:
        return text.replace("%", "%%") if pyformat else text

    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            end = _end_of_quoted(sql, i, ch, backslash_escapes and ch != "`")
            out.append(verbatim(sql[i:end]))
            i = end
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(verbatim(sql[i:end]))
            i = end
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(verbatim(sql[i:end]))
            i = end
        elif ch == "$" and (m := _DOLLAR_TAG.match(sql, i)) and not (i and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            tag = m.group(0)
            end = sql.find(tag, m.end())
            end = n if end == -1 else end + len(tag)
            out.append(verbatim(sql[i:end]))
            i = end
        elif ch == "%" and pyformat:
            if sql.startswith("%s", i) or sql.startswith("%(", i) or sql.startswith("%b", i) or sql.startswith("%t", i):
                native = True
            out.append("%%")
            i += 1
        elif ch == "$" and style == "dollar" and i + 1 < n and sql[i + 1].isdigit():
            native = True
            out.append(ch)
            i += 1
        elif ch == "?" and not named:
            position += 1
            out.append("%s" if pyformat else f"${position}" if style == "dollar" else f":{position}")
            rewritten = True
            i += 1
        elif ch == ":" and named:
            if sql.startswith("::", i):
                out.append("::")
                i += 2
                continue
            m = _NAME.match(sql, i + 1)
            if m and not (i and sql[i - 1] == ":"):
                if style == "numeric":  # the driver's own named style: nothing to rewrite
                    return sql
                out.append(f"%({m.group(0)})s" if pyformat else f"${m.group(0)}")
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
