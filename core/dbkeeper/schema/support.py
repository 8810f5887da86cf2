"""``BaseSchemaSupport``: the schema toolkit's part of a dialect, to subclass in a plugin.

A dialect that supports ``dbkeeper schema`` (``Capabilities.render_ddl``)
returns an instance of its subclass from ``Dialect.schema_support()``; the
contract (:class:`dbkeeper.contract.dialect.SchemaSupport`) only describes
its shape, so the contract never imports the toolkit. Override points:

* :attr:`renderer_class`: your :class:`~dbkeeper.schema.ddl.DDLRenderer` subclass;
* :meth:`introspect_schema`: read the catalog into a ``SchemaDefinition``
  (the base has none);
* :meth:`render_ddl`: wrap or replace the rendering of whole objects
  (SQLite turns foreign keys off around a table rebuild).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from dbkeeper.schema.ddl import DDLRenderer
from dbkeeper.schema.render import render_object

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.contract.session import Session
    from dbkeeper.schema.model import SchemaDefinition


class BaseSchemaSupport:
    """Renders through :attr:`renderer_class`; introspection is the dialect's to write."""

    #: The renderer that spells schema objects in this dialect's SQL.
    renderer_class: ClassVar[type[DDLRenderer]] = DDLRenderer

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def ddl_renderer(self) -> DDLRenderer:
        """A new :attr:`renderer_class` for the dialect."""
        return self.renderer_class(self.dialect)

    def render_ddl(self, obj: Any, options: Mapping[str, Any]) -> list[str]:
        """Statements for ``obj`` (see :func:`dbkeeper.schema.render.render_object`); a list item by item."""
        if isinstance(obj, list | tuple):
            return [s for item in obj for s in self.render_ddl(item, options)]
        return render_object(self.ddl_renderer(), obj, options)

    def introspect_schema(self, connection: Session) -> SchemaDefinition:
        """The whole schema of ``connection``'s database in one batched pass; the base cannot read a catalog."""
        raise self.dialect._unsupported("schema introspection")
