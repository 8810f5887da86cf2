"""Checks that a :class:`SchemaDefinition` is complete and consistent, with errors people can act on.

Run by :meth:`SchemaDefinition.from_dict`, the generator and the differ
before any SQL is produced, so a bad definition fails with the name of the
offending object instead of a database error half-way through a migration.
It also resolves ``enum`` references into ``enum_values``.

The checks live in :mod:`dbkeeper.schema.model`, which runs them when it
parses a definition (a separate module would make the two import each
other); this module is their public name.
"""

from __future__ import annotations

from dbkeeper.schema.model import validate

__all__ = ["validate"]
