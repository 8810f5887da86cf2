"""The portable column-type vocabulary and its parser.

Definitions name types portably (``INTEGER``, ``VARCHAR(100)``,
``NUMERIC(10,2)``); each dialect's renderer maps them to its own spelling and
parses what its catalog reports back into this vocabulary, so comparing a
definition with a live database compares like with like. Widening and
narrowing are decided here, once, for every dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dbkeeper.schema.errors import SchemaValidationError

#: Canonical type names; the value says whether the type takes arguments (length, precision).
CANONICAL: dict[str, int] = {
    "SMALLINT": 0, "INTEGER": 0, "BIGINT": 0, "BOOLEAN": 0, "REAL": 0, "DOUBLE": 0, "NUMERIC": 2,
    "VARCHAR": 1, "CHAR": 1, "TEXT": 0, "DATE": 0, "TIME": 0, "TIMESTAMP": 0, "TIMESTAMPTZ": 0,
    "BLOB": 0, "JSON": 0, "UUID": 0, "ENUM": 0,
}

#: Other spellings people (and databases, and SQLAlchemy) use for the canonical types.
ALIASES: dict[str, str] = {
    "INT": "INTEGER", "INT4": "INTEGER", "MEDIUMINT": "INTEGER", "SERIAL": "INTEGER", "INT8": "BIGINT",
    "BIGSERIAL": "BIGINT", "INT2": "SMALLINT", "TINYINT": "SMALLINT", "BOOL": "BOOLEAN", "FLOAT4": "REAL",
    "FLOAT": "DOUBLE", "FLOAT8": "DOUBLE", "DOUBLE PRECISION": "DOUBLE", "DECIMAL": "NUMERIC",
    "CHARACTER VARYING": "VARCHAR", "CHARACTER": "CHAR", "NVARCHAR": "VARCHAR", "NCHAR": "CHAR",
    "STRING": "TEXT", "CLOB": "TEXT", "LONGTEXT": "TEXT", "MEDIUMTEXT": "TEXT", "DATETIME": "TIMESTAMP",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP", "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "TIME WITHOUT TIME ZONE": "TIME", "BYTEA": "BLOB", "LONGBLOB": "BLOB", "BINARY": "BLOB", "VARBINARY": "BLOB",
    "LARGEBINARY": "BLOB", "JSONB": "JSON", "UNICODE": "VARCHAR", "UNICODETEXT": "TEXT",
}

_TYPE_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_ ]*?)\s*(?:\(\s*([0-9\s,]*)\s*\))?\s*$")
_INTEGER_RANK = {"SMALLINT": 1, "INTEGER": 2, "BIGINT": 3}
_FLOAT_RANK = {"REAL": 1, "DOUBLE": 2}


@dataclass(frozen=True, slots=True)
class ColumnType:
    """A parsed type: canonical ``name`` plus its arguments; ``raw`` keeps an unrecognised spelling."""

    name: str
    args: tuple[int, ...] = ()
    raw: str | None = None

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        if self.args:
            return f"{self.name}({','.join(str(a) for a in self.args)})"
        return self.name

    @property
    def known(self) -> bool:
        """False for a type a database reported that is outside the portable vocabulary."""
        return self.raw is None


def parse_type(text: str, *, strict: bool = True) -> ColumnType:
    """Parse ``text`` into a :class:`ColumnType`.

    ``strict`` (definitions) raises :class:`SchemaValidationError` for an
    unknown type; introspection passes ``strict=False`` and keeps the
    database's spelling, so an exotic column is reported, never dropped.
    """
    match = _TYPE_RE.match(text or "")
    base = " ".join(match.group(1).upper().split()) if match else ""
    base = ALIASES.get(base, base)
    if not match or base not in CANONICAL:
        if strict:
            known = ", ".join(sorted(CANONICAL))
            raise SchemaValidationError(f"unknown column type {text!r}; use one of {known} "
                                        "(with a length for VARCHAR/CHAR, precision and scale for NUMERIC)")
        return ColumnType(name=" ".join((text or "").upper().split()), raw=" ".join((text or "").upper().split()))
    args = tuple(int(a) for a in (match.group(2) or "").replace(" ", "").split(",") if a)
    if base == "VARCHAR" and not args:
        return ColumnType("TEXT")
    if base == "CHAR" and not args:
        args = (1,)
    if base == "NUMERIC" and len(args) == 1:
        args = (args[0], 0)
    if CANONICAL[base] == 0:
        args = ()
    elif len(args) > CANONICAL[base]:
        if strict:
            raise SchemaValidationError(f"type {text!r} takes at most {CANONICAL[base]} argument(s)")
        args = args[:CANONICAL[base]]
    return ColumnType(base, args)


def is_narrowing(old: ColumnType, new: ColumnType) -> bool:
    """True when converting ``old`` values to ``new`` can lose or reject data.

    Widening (SMALLINT -> INTEGER -> BIGINT, REAL -> DOUBLE, longer VARCHAR,
    VARCHAR -> TEXT, more NUMERIC precision) is safe; everything else,
    including a change of family, counts as narrowing and needs
    ``allow_destructive``.
    """
    if old == new:
        return False
    if old.name in _INTEGER_RANK and new.name in _INTEGER_RANK:
        return _INTEGER_RANK[new.name] < _INTEGER_RANK[old.name]
    if old.name in _INTEGER_RANK and new.name in ("BIGINT", "NUMERIC", "DOUBLE", "TEXT"):
        return new.name == "NUMERIC" and bool(new.args) and new.args[0] - new.args[1] < 19
    if old.name in _FLOAT_RANK and new.name in _FLOAT_RANK:
        return _FLOAT_RANK[new.name] < _FLOAT_RANK[old.name]
    if old.name in ("VARCHAR", "CHAR") and new.name == "TEXT":
        return False
    if old.name in ("VARCHAR", "CHAR") and new.name == "VARCHAR":
        return new.args[0] < old.args[0]
    if old.name == "NUMERIC" and new.name == "NUMERIC":
        if not old.args:
            return bool(new.args)
        if not new.args:
            return False
        return new.args[1] < old.args[1] or new.args[0] - new.args[1] < old.args[0] - old.args[1]
    if old.name == "DATE" and new.name in ("TIMESTAMP", "TIMESTAMPTZ"):
        return False
    return not (old.name == "TIMESTAMP" and new.name == "TIMESTAMPTZ")
