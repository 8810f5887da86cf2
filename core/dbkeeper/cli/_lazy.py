"""A click group whose commands are imported only when they are used.

This is click's documented ``LazyGroup`` pattern: the group maps command names
to ``"module:attribute"`` strings and imports a command's module the first
time the name is resolved. ``dbkeeper query ...`` then imports only the query
command, and ``dbkeeper --help`` imports only small command modules (each
keeps its heavy imports - rich, SQLAlchemy, drivers - inside its function).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class LazyGroup(click.Group):
    """A :class:`click.Group` that imports the commands in ``lazy_commands`` on demand.

    ``lazy_commands`` maps a command name to ``"package.module:attribute"``;
    the attribute must be a :class:`click.Command`. Commands added the usual
    way (``add_command``) live alongside; a lazy name wins over an added one.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = dict(lazy_commands or {})
        self._imported: dict[str, click.Command] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, lazy or added, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return the lazy command ``cmd_name``, else fall back to added commands."""
        if cmd_name in self.lazy_commands:
            return self._import(cmd_name)
        return super().get_command(ctx, cmd_name)

    def _import(self, cmd_name: str) -> click.Command:
        command = self._imported.get(cmd_name)
        if command is not None:
            return command
        module_name, _, attribute = self.lazy_commands[cmd_name].partition(":")
        loaded = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"lazy command {cmd_name!r} ({self.lazy_commands[cmd_name]}) is not a click.Command")
        self._imported[cmd_name] = loaded
        return loaded
