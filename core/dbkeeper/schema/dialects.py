"""A dialect's DDL renderer by name, and rendering through ``Dialect.render_ddl``.

Dialects are found by name or URL scheme (:func:`resolve_dialect`, in
:mod:`dbkeeper.schema.lookup`); each one's schema support
(``Dialect.schema``) renders and introspects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbkeeper.schema.lookup import join_statements, resolve_dialect

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.schema.ddl import DDLRenderer

__all__ = ["join_statements", "render_ddl", "renderer_for", "resolve_dialect"]


def renderer_for(dialect: str | Dialect) -> DDLRenderer:
    """The dialect's :class:`DDLRenderer` (raises ``UnsupportedOperationError`` when it has none)."""
    renderer: DDLRenderer = resolve_dialect(dialect).ddl_renderer()
    return renderer


def render_ddl(dialect: str | Dialect, obj: Any, options: Mapping[str, Any] | None = None) -> list[str]:
    """Statements for ``obj`` in the dialect's SQL (``Dialect.render_ddl``)."""
    return resolve_dialect(dialect).render_ddl(obj, dict(options or {}))
