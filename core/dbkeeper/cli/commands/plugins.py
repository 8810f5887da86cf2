"""``dbkeeper plugins``: what is installed, what it provides, and what failed to load.

People debug their installs with this command, so it reports every plugin,
including the broken and the disabled ones with their errors, and it loads
plugin commands first so that a plugin whose command hook fails shows up too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from dbkeeper.engine.plugins import PluginInfo

_STATUS_STYLE = {"loaded": "green", "failed": "bold red", "disabled": "yellow"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List plugins: version, dialects and URL schemes, hooks, load status and errors."""
    from dbkeeper.cli._group import DbKeeperGroup
    from dbkeeper.engine.plugins import get_registry

    root = ctx.find_root().command
    if isinstance(root, DbKeeperGroup):
        root.load_plugin_commands()
    infos = get_registry().plugins()
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json([info.to_dict() for info in infos])
        return
    _print_table(infos)


def _print_table(infos: list[PluginInfo]) -> None:
    from rich.text import Text

    from dbkeeper.cli._output import make_console, new_table, show

    console = make_console()
    if not infos:
        show(console, "no plugins installed")
        return
    table = new_table("plugin", "version", "status", "dialects (URL schemes)", "hooks", "error")
    for info in infos:
        dialects = "\n".join(f"{d['name']} ({', '.join(d['schemes'])})" for d in info.dialects) or "-"
        version = info.version or "-"
        if info.distribution and info.distribution != info.name:
            version = f"{info.distribution} {version}"
        table.add_row(
            Text(info.name, style="bold"),
            Text(version),
            Text(info.status, style=_STATUS_STYLE.get(info.status, "")),
            Text(dialects),
            Text("\n".join(info.hooks) or "-"),
            Text(info.error or "", style="red"),
        )
    show(console, table)
