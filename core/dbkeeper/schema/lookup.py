"""Finding a dialect by name, below the whole toolkit (the model's ``to_sql`` uses it).

Schema work often has no database at hand (``schema generate --dialect
postgres``), so dialects are looked up by name in the plugin registry;
``postgresql`` and ``mariadb`` are accepted as the URL schemes they are.
This module imports nothing of the toolkit, so the model can render through
the dialect (``Dialect.render_ddl``) without importing the renderer, which
imports the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect


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


def join_statements(statements: list[str]) -> str:
    """One SQL script: statements separated by ``;`` and a blank line."""
    return "".join(f"{s};\n\n" for s in statements).rstrip("\n") + ("\n" if statements else "")
