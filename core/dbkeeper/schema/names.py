"""Deterministic names for indexes and constraints a definition leaves unnamed.

Diffs must settle, so a generated name depends only on the table, the
columns (or expression) and the kind of object; names longer than 60
characters (PostgreSQL truncates at 63 bytes, MySQL refuses more than 64) are
shortened with a hash suffix that keeps them unique.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

MAX_LENGTH = 60


def object_name(prefix: str, table: str, parts: Sequence[str]) -> str:
    """``<prefix>_<table>_<part>_<part>``, shortened with a hash when too long."""
    name = "_".join([prefix, table, *parts])
    if len(name.encode("utf-8")) <= MAX_LENGTH:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    head = name.encode("utf-8")[:MAX_LENGTH - 9].decode("utf-8", "ignore")
    return f"{head}_{digest}"


def check_name(table: str, expression_key: str) -> str:
    """A check constraint's name: the table plus a short hash of its normalised expression."""
    return object_name("ck", table, [hashlib.sha256(expression_key.encode("utf-8")).hexdigest()[:10]])
