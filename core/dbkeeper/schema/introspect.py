"""Reading a live database into a :class:`SchemaDefinition`.

Each dialect reads its catalog in one batched pass
(``Dialect.introspect_schema``); this wrapper leaves out dbkeeper's own
bookkeeping tables (the migration history), which are not part of anyone's
schema and would otherwise show up as drift, and puts literal defaults in
their canonical form for the column type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dbkeeper.schema.expressions import canonical_literal
from dbkeeper.schema.model import SchemaDefinition
from dbkeeper.schema.types import parse_type

if TYPE_CHECKING:
    from dbkeeper.engine.connection import DatabaseConnection

#: Tables dbkeeper itself creates; never reported as part of a schema.
INTERNAL_PREFIX = "dbkeeper_"


def introspect(connection: DatabaseConnection, *, exclude: Iterable[str] = (),
               include_internal: bool = False) -> SchemaDefinition:
    """The schema of ``connection``'s database (connected on demand).

    Tables named in ``exclude`` and, unless ``include_internal``, tables
    whose names start with ``dbkeeper_`` (migration history and locks) are
    left out.
    """
    if not connection.is_connected:
        connection.connect()
    schema = _read(connection)
    skip = set(exclude)
    schema.tables = [t for t in schema.tables
                     if t.name not in skip and (include_internal or not t.name.startswith(INTERNAL_PREFIX))]
    for table in schema.tables:
        for column in table.columns:
            if column.default is not None:  # '-1'::integer reads back as -1, TINYINT(1) 1 as True
                column.default = canonical_literal(column.default, parse_type(column.type, strict=False))
    return schema


def _read(connection: DatabaseConnection) -> SchemaDefinition:
    """The dialect's catalog reader (``Dialect.introspect_schema``, typed loosely by the contract below us)."""
    schema: SchemaDefinition = connection.dialect.introspect_schema(connection)
    return schema
