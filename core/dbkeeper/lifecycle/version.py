"""Semantic schema versions: what the code expects and what the database stores.

A :class:`Version` is the schema version of an embedded database, not of the
application: it changes only when the tables change. It orders like the tuple
``(major, minor, patch)``, prints as ``"1.2.3"`` and round-trips through the
three integer columns of the version table (:meth:`Version.to_db` /
:meth:`Version.from_db`), so code written against the old ``DBManager``'s
``Version`` keeps working.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbkeeper.lifecycle.error_base import VersionFormatError

_VERSION_TEXT = re.compile(r"\s*v?(\d+)\.(\d+)\.(\d+)\s*")


@dataclass(frozen=True, order=True, slots=True)
class Version:
    """A ``major.minor.patch`` schema version, totally ordered and hashable."""

    major: int
    minor: int
    patch: int

    def __post_init__(self) -> None:
        for name in ("major", "minor", "patch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise VersionFormatError(
                    f"Version.{name} must be a non-negative integer, got {value!r}"
                )

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``"1.2.3"`` (a leading ``v`` is allowed); anything else is a clear error."""
        if not isinstance(text, str):
            raise VersionFormatError(f"Version.parse() needs a string like '1.2.3', got {type(text).__name__}")
        match = _VERSION_TEXT.fullmatch(text)
        if match is None:
            raise VersionFormatError(f"not a version: {text!r}; expected MAJOR.MINOR.PATCH, for example '1.2.3'")
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)))

    def to_db(self) -> tuple[int, int, int]:
        """The ``(major, minor, patch)`` parameters for the version table's columns."""
        return (self.major, self.minor, self.patch)

    @classmethod
    def from_db(cls, row: Any) -> Version:
        """Build a version from a version-table row.

        Accepts a ``(major, minor, patch)`` sequence (plain tuples,
        ``sqlite3.Row``, psycopg tuples) or a mapping with those keys
        (psycopg's ``dict_row``).
        """
        try:
            values = (row["major"], row["minor"], row["patch"]) if isinstance(row, Mapping) else tuple(row)
            major, minor, patch = values
        except (KeyError, TypeError, ValueError) as exc:
            raise VersionFormatError(
                f"a version row needs exactly the columns major, minor, patch; got {row!r}"
            ) from exc
        try:
            return cls(int(major), int(minor), int(patch))
        except (TypeError, ValueError) as exc:
            raise VersionFormatError(f"version row holds non-integer values: {row!r}") from exc

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"
