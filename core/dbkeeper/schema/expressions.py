"""Normal forms of what databases rewrite: defaults, check expressions, view definitions.

PostgreSQL reports ``'-1'::integer`` for a default written ``-1`` and
``CHECK ((amount > 0))`` for ``amount > 0``; MariaDB reports
``current_timestamp()`` for ``CURRENT_TIMESTAMP`` and qualifies every column
of a view with its database. Comparing the text would make diffs that never
settle, so both sides are reduced to the keys computed here before they are
compared; the SQL that is rendered keeps the definition's own text.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from dbkeeper.schema.types import ColumnType

_CAST = re.compile(r"::\s*[a-z_][a-z0-9_ ]*(\(\s*\d+(\s*,\s*\d+)?\s*\))?(\[\])?", re.IGNORECASE)
_STRING = re.compile(r"^'((?:[^']|'')*)'$", re.DOTALL)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_NOW = {"now()", "current_timestamp()", "current_timestamp", "localtimestamp", "localtimestamp()",
        "datetime('now')", "datetime('now','localtime')"}
_QUOTED_NUMBER = re.compile(r"'([+-]?\d+(?:\.\d+)?)'")
#: Spellings of the same niladic function (MariaDB reports ``curdate()`` for ``CURRENT_DATE``).
_SYNONYMS = {"curdate()": "current_date", "current_date()": "current_date", "curtime()": "current_time",
             "current_time()": "current_time"}
_ANY_ARRAY = re.compile(r"=any\(+array((?:'(?:[^']|'')*',?)+)\)+")
_BETWEEN = re.compile(r"([a-z_][a-z0-9_.]*)\s+between\s+(\S+)\s+and\s+(\S+)")
_QUALIFIER = re.compile(r"\b[a-z_][a-z0-9_$]*\.(?=[a-z_*])")
_SELF_ALIAS = re.compile(r"\b([a-z_][a-z0-9_$]*)\s+as\s+\1\b")


def strip_outer_parens(text: str) -> str:
    """``((x > 0))`` -> ``x > 0``: remove parentheses that enclose the whole expression."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


def parse_reported_default(text: str | None) -> tuple[Any, str | None]:
    """Split a default as a catalog reports it into ``(literal, expression)``; ``(None, None)`` for none.

    A quoted string (with any ``::type`` casts) is a literal string, a
    number is a number, ``true``/``false`` are booleans, ``NULL`` is no
    default; anything else is an expression.
    """
    if text is None:
        return None, None
    value = strip_outer_parens(_CAST.sub("", text.strip()).strip())
    if not value or value.upper() == "NULL":
        return None, None
    match = _STRING.match(value)
    if match:
        return match.group(1).replace("''", "'"), None
    if _NUMBER.match(value):
        return (int(value) if re.fullmatch(r"[+-]?\d+", value) else value), None
    if value.lower() in ("true", "false"):
        return value.lower() == "true", None
    return None, value


def canonical_literal(value: Any, ctype: ColumnType) -> Any:
    """A literal default in the one form that compares equal across databases, given the column type."""
    if value is None:
        return None
    name = ctype.name
    try:
        if name == "BOOLEAN":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "t", "yes", "y", "on")
            return bool(value)
        if name in ("SMALLINT", "INTEGER", "BIGINT"):
            return int(Decimal(str(value)))
        if name in ("REAL", "DOUBLE"):
            return float(value)
        if name == "NUMERIC":
            number = Decimal(str(value)).normalize()
            return format(number, "f")
    except (InvalidOperation, ValueError):
        return str(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def expression_key(text: str) -> str:
    """The comparison key of a default or check expression (case, quotes, casts, spaces, parentheses removed)."""
    value = text.strip().lower()
    for quote in ('"', "`", "[", "]"):
        value = value.replace(quote, "")
    value = _CAST.sub("", value)
    value = _QUOTED_NUMBER.sub(r"\1", value)
    value = _BETWEEN.sub(r"\1 >= \2 and \1 <= \3", value)  # PostgreSQL stores BETWEEN as two comparisons
    value = "".join(value.split())
    value = _ANY_ARRAY.sub(lambda m: f"in({m.group(1)})", value)
    value = value.replace("!=", "<>")
    if value in _NOW or value.replace("()", "") in _NOW:
        return "current_timestamp"
    if value in _SYNONYMS:
        return _SYNONYMS[value]
    return value.replace("(", "").replace(")", "")


def view_key(text: str, *, qualifiers: tuple[str, ...] = ()) -> str:
    """The comparison key of a view definition.

    Quotes, qualifiers (``db.t.col`` -> ``col``), ``x AS x`` aliases, casts,
    whitespace, parentheses and a trailing semicolon are removed, so a view
    as PostgreSQL or MariaDB prints it matches the definition it was created from.
    """
    value = text.strip().rstrip(";").lower()
    for quote in ('"', "`"):
        value = value.replace(quote, "")
    for prefix in qualifiers:
        value = value.replace(f"{prefix.lower()}.", "")
    value = _CAST.sub("", value)
    value = _QUALIFIER.sub("", value)
    value = _SELF_ALIAS.sub(r"\1", value)
    value = "".join(value.split())
    return value.replace("(", "").replace(")", "")


def referenced_names(definition: str, candidates: set[str]) -> set[str]:
    """Which of ``candidates`` (table and view names) a view definition mentions; used to order views."""
    tokens = set(re.findall(r'"((?:[^"]|"")+)"|`([^`]+)`|([A-Za-z_][A-Za-z0-9_$]*)', definition))
    found: set[str] = set()
    for quoted, backticked, bare in tokens:
        name = quoted.replace('""', '"') if quoted else backticked or bare
        if name in candidates:
            found.add(name)
        elif bare and bare.lower() in {c.lower() for c in candidates}:
            found.update(c for c in candidates if c.lower() == bare.lower())
    return found
