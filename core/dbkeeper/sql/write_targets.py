"""Which tables a raw SQL statement may change, for read-cache invalidation.

The read cache (:mod:`dbkeeper.crud.read_cache`) must forget what a write made
stale. Writes made by the CRUD helpers and plain ``INSERT``/``UPDATE``/
``DELETE``/``REPLACE``/``TRUNCATE`` statements name their one target table,
which this module finds; everything else that is not a plain read is
answered with :data:`EVERYTHING`, and the cache then forgets every entry of
that database. The rules, in order:

* ``BEGIN``, ``START TRANSACTION``, ``SAVEPOINT``, ``RELEASE``, ``ROLLBACK``:
  nothing changes (the writes inside were seen one by one).
* ``SELECT``, ``WITH``, ``VALUES``, ``TABLE``, ``SHOW``, ``EXPLAIN``,
  ``DESCRIBE``, ``PRAGMA`` without ``=``: a read, unless a write keyword
  (``INSERT``, ``UPDATE``, ``DELETE``, ``MERGE``, ``REPLACE``, ``TRUNCATE``,
  ``INTO``...) appears outside quotes; ``WITH ... DELETE``, ``SELECT ... INTO``,
  ``EXPLAIN ANALYZE UPDATE`` and ``SELECT ... FOR UPDATE`` count as writes
  (the last one needlessly, but safely).
* ``INSERT [OR ...|IGNORE] INTO t``, ``REPLACE INTO t``, ``UPDATE t SET``,
  ``DELETE FROM t``, ``TRUNCATE [TABLE] t``: table ``t``, when nothing but
  the usual continuation follows the name (an alias, ``ONLY``, a second
  table, a second statement after ``;`` all fall back to EVERYTHING).
* anything else (DDL, ``COMMIT``, ``SET``, ``CALL``, ``COPY``, ``MERGE``,
  statements starting with a comment...): EVERYTHING.

What this cannot see, and the cache therefore cannot either: writes made by
triggers and by functions called from a ``SELECT``. Cached reads are also
tagged with the tables their table references (see
:meth:`dbkeeper.crud.table_meta.TableMetaCache.dependency_tags`), which covers
cascading foreign keys.

Results are cached per statement text, so classifying the statements an
application repeats costs one dict lookup.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["EVERYTHING", "Everything", "WriteTargets", "write_targets"]


class Everything:
    """The statement may change any table (see the module doc)."""

    _instance: Everything | None = None

    def __new__(cls) -> Everything:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EVERYTHING"


EVERYTHING: Final = Everything()
#: ``None`` (changes nothing), a set of case-folded table names, or :data:`EVERYTHING`.
WriteTargets = frozenset[str] | Everything | None

_CONTROL = frozenset({"begin", "start", "savepoint", "release", "rollback"})
_READS = frozenset({"select", "with", "values", "table", "show", "explain", "describe", "desc", "pragma"})
_WRITE_WORDS = re.compile(
    r"\b(insert|update|delete|merge|replace|truncate|into|upsert|copy|call|alter|create|drop|grant|lock)\b",
    re.IGNORECASE,
)
# Quoted runs removed before looking for keywords or ';': literals, quoted identifiers, comments.
# Whether a backslash escapes a quote depends on the server's settings, so the
# text is read both ways and a keyword found either way counts: a quoted run
# is only skipped when it is quoted under both readings.
_QUOTED = (
    re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|--[^\n]*|/\*.*?\*/", re.DOTALL),
    re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`(?:[^`]|``)*`|--[^\n]*|/\*.*?\*/",
               re.DOTALL),
)
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")
_IDENT = r"(?:\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\[[^\]]*\]|[^\W\d][\w$]*)"
_TARGET = rf"({_IDENT}(?:\s*\.\s*{_IDENT})*)"
_MODIFIERS = r"(?:(?:or\s+[a-z]+|ignore|low_priority|high_priority|delayed|quick)\s+)*"
_PATTERNS = (
    (re.compile(rf"\s*insert\s+{_MODIFIERS}into\s+{_TARGET}\s*(.*)", re.IGNORECASE | re.DOTALL),
     ("(", "values", "value", "select", "default", "set", "with")),
    (re.compile(rf"\s*replace\s+{_MODIFIERS}into\s+{_TARGET}\s*(.*)", re.IGNORECASE | re.DOTALL),
     ("(", "values", "value", "select", "set", "with")),
    (re.compile(rf"\s*update\s+{_MODIFIERS}{_TARGET}\s*(.*)", re.IGNORECASE | re.DOTALL),
     ("set",)),
    (re.compile(rf"\s*delete\s+{_MODIFIERS}from\s+{_TARGET}\s*(.*)", re.IGNORECASE | re.DOTALL),
     ("", "where", "using", "returning", "order", "limit")),
    (re.compile(rf"\s*truncate\s+(?:table\s+)?{_TARGET}\s*(.*)", re.IGNORECASE | re.DOTALL),
     ("", "restart", "continue", "cascade", "restrict")),
)
_RESERVED_TARGETS = frozenset({"only", "table", "from", "into", "set", "ignore", "lateral"})
_CACHE_LIMIT = 4096
_cache: dict[str, WriteTargets] = {}
_MISSING: Final = object()


def write_targets(sql: str) -> WriteTargets:
    """What ``sql`` may change: ``None``, the tables it writes, or :data:`EVERYTHING`."""
    cached = _cache.get(sql, _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[return-value]
    result = _classify(sql)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[sql] = result
    return result


def _classify(sql: str) -> WriteTargets:
    match = _FIRST_WORD.match(sql)
    if match is None:
        return EVERYTHING
    word = match.group(1).lower()
    if word in _CONTROL:
        return None
    readings = [pattern.sub(" ", sql) for pattern in _QUOTED]
    for bare in readings:
        if len([part for part in bare.split(";") if part.strip()]) > 1:
            return EVERYTHING
    if word in _READS:
        for bare in readings:
            if (word == "pragma" and "=" in bare) or _WRITE_WORDS.search(bare, match.end()):
                return EVERYTHING
        return None
    for pattern, followers in _PATTERNS:
        found = pattern.match(sql)
        if found is None:
            continue
        target, rest = found.group(1), found.group(2).strip().rstrip(";").strip()
        if not _follows(rest, followers):
            return EVERYTHING
        name = _last_part(target)
        if name is None:
            return EVERYTHING
        return frozenset({name})
    return EVERYTHING


def _follows(rest: str, followers: tuple[str, ...]) -> bool:
    if not rest:
        return "" in followers
    lowered = rest.lower()
    for word in followers:
        if not word:
            continue
        if word == "(":
            if lowered.startswith("("):
                return True
        elif lowered.startswith(word) and (len(lowered) == len(word) or not (lowered[len(word)].isalnum()
                                                                               or lowered[len(word)] == "_")):
            return True
    return False


def _last_part(target: str) -> str | None:
    parts = re.findall(_IDENT, target)
    if not parts:
        return None
    last = parts[-1]
    if last[0] == '"':
        name = last[1:-1].replace('""', '"')
    elif last[0] == "`":
        name = last[1:-1].replace("``", "`")
    elif last[0] == "[":
        name = last[1:-1]
    else:
        if last.lower() in _RESERVED_TARGETS:
            return None
        name = last
    if "%" in name or not name:
        return None  # '%' may be doubled for pyformat drivers: the true name is ambiguous
    return str(name.casefold())
