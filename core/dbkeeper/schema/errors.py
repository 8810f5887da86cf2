"""Errors of the schema toolkit, all :class:`~dbkeeper.errors.DbKeeperError` subclasses.

Each says what was wrong, with the offending name, and what to do about it;
the CLI maps them to exit code 2.
"""

from __future__ import annotations

from dbkeeper.errors import DbKeeperError


class SchemaError(DbKeeperError):
    """Base class of every schema-specific error."""


class SchemaValidationError(SchemaError):
    """A schema definition is malformed: unknown type, missing name, duplicate column, dangling reference."""


class SchemaInputError(SchemaError):
    """Input that cannot become a schema definition (an unsupported model object, an unreadable file)."""


class DestructiveChangeError(SchemaError):
    """A generated migration would drop objects or narrow types, and that was not explicitly allowed.

    ``changes`` lists the offending changes as human-readable lines.
    """

    def __init__(self, message: str, changes: list[str]) -> None:
        super().__init__(message)
        self.changes = changes


class UnsupportedSchemaFeatureError(SchemaError):
    """The target dialect cannot represent a part of the definition (a sequence on MySQL, say)."""


class SchemaFragmentError(SchemaValidationError):
    """A SQL fragment of a definition (check, SQL default, generated expression, view body) is not one expression.

    Fragments are pasted into DDL, so a top-level ``;``, an unbalanced
    parenthesis or quote, or an unclosed comment would end the statement
    early and let the rest run as SQL of its own. ``location`` names the
    fragment (``check constraint 'ck' of table 't'``, ``view 'v'``).
    """

    def __init__(self, message: str, location: str) -> None:
        super().__init__(message)
        self.location = location
