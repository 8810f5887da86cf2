"""Statement fingerprints: one text per query *shape*, so statistics add up per shape.

``SELECT * FROM t WHERE id = 42`` and ``... id = 7`` are the same query for a
performance report; literals (strings, numbers, hex), placeholders, ``IN
(...)`` lists and multi-row ``VALUES`` are replaced by ``?`` and whitespace is
normalised. Case is kept: MySQL table names are case-sensitive, and the
advisor explains the fingerprint against the real schema. Fingerprinting
happens when the recorder flushes, never on the hot path, and is cached per
statement text.
"""

from __future__ import annotations

import re
from functools import lru_cache

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.|'')*'|E'(?:[^'\\]|\\.)*'", re.S)
_HEX = re.compile(r"\b0x[0-9a-f]+\b", re.I)
_NUMBERS = re.compile(r"(?<![\w$\"`.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?\b", re.I)
_PLACEHOLDERS = re.compile(r"%\(\w+\)s|%s|\$\d+|(?<![:\w]):\w+|\?")
_IN_LIST = re.compile(r"\bin\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.I)
_VALUES_ROWS = re.compile(r"(\(\s*\?(?:\s*,\s*\?)*\s*\))(?:\s*,\s*\(\s*\?(?:\s*,\s*\?)*\s*\))+")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def fingerprint(query: str) -> str:
    """The normalised shape of ``query``: literals and placeholders become ``?``, IN-lists ``(?+)``."""
    text = _COMMENTS.sub(" ", query)
    text = _STRINGS.sub("?", text)
    text = _HEX.sub("?", text)
    text = _PLACEHOLDERS.sub("?", text)
    text = _NUMBERS.sub("?", text)
    text = _IN_LIST.sub("IN (?+)", text)
    text = _VALUES_ROWS.sub(r"\1, ...", text)
    text = _SPACES.sub(" ", text).strip().rstrip(";").strip()
    return text
