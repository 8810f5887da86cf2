"""Finding a dialect and its DDL renderer by name, and rendering through ``Dialect.render_ddl``.

Schema work often has no database at hand (``schema generate --dialect
postgres``), so dialects are looked up by name in the plugin registry;
``postgresql`` and ``mariadb`` are accepted as the URL schemes they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect
    from dbkeeper.schema.ddl import DDLRenderer


def resolve_dialect(dialect: str | Dialect) -> Dialect:
    """The registered :class:`~dbkeeper.contract.dialect.Dialect` for a name or URL scheme (or the object itself)."""
    if not isinstance(dialect, str):
        return dialect
    from dbkeeper.engine.plugins import get_registry
    from dbkeeper.errors import UnsupportedDatabaseError
    from dbkeeper.urls import DatabaseURL

    registry = get_registry()
    try:
        return registry.get_dialect(dialect)
    except UnsupportedDatabaseError:
        return registry.dialect_for_url(DatabaseURL(scheme=dialect.lower()))


def renderer_for(dialect: str | Dialect) -> DDLRenderer:
    """The dialect's :class:`DDLRenderer` (raises ``UnsupportedOperationError`` when it has none)."""
    return resolve_dialect(dialect).ddl_renderer()


def render_ddl(dialect: str | Dialect, obj: Any, options: Mapping[str, Any] | None = None) -> list[str]:
    """Statements for ``obj`` in the dialect's SQL (``Dialect.render_ddl``)."""
    return resolve_dialect(dialect).render_ddl(obj, dict(options or {}))


def join_statements(statements: list[str]) -> str:
    """One SQL script: statements separated by ``;`` and a blank line."""
    return "".join(f"{s};\n\n" for s in statements).rstrip("\n") + ("\n" if statements else "")
