"""``dbkeeper backup leftovers``: list (and remove) what interrupted restores left on servers.

Kept apart from :mod:`dbkeeper.cli.commands.backup` so the listing, the warning that
``backup list`` prints and the removal live next to each other; see
:mod:`dbkeeper.backup.leftovers` for how leftovers are found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def warn_about_leftovers(workspace: Path) -> None:
    """Print one ``warning:`` line per target that killed restores left copies on (stderr)."""
    from dbkeeper.backup.leftovers import report

    for item in report(workspace):
        click.echo(f"warning: {item.message()}", err=True)


@click.command(name="leftovers")
@click.option("--to", "target", default=None, metavar="URL_OR_NAME",
              help="The restore target to look at (default: every target of an interrupted restore).")
@click.option("--remove", is_flag=True, help="Drop the leftovers found (scratch and aside copies only).")
@click.option("--workspace", metavar="DIR", default=None, type=click.Path(file_okay=False),
              help="Workspace holding the catalog and archives (default: $DBKEEPER_WORKSPACE).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def leftovers(target: str | None, remove: bool, workspace: str | None, as_json: bool) -> None:
    """List the scratch/aside copies interrupted restores left behind; --remove drops them.

    Only names of the fixed pattern (<target>_dbk_restore_<hex>,
    <target>_dbk_aside_<hex>; SQLite: .<file>.dbkeeper-restore-<hex> next to
    the file) that no running restore uses are listed or removed.
    """
    from dbkeeper.backup import leftovers as found_leftovers
    from dbkeeper.cli._connections import resolve_db
    from dbkeeper.cli._state import get_state
    from dbkeeper.redaction import redact
    from dbkeeper.workspace import resolve_workspace

    ctx = click.get_current_context()
    root = resolve_workspace(workspace)
    targets = None if target is None else [resolve_db(ctx, target)[1]]
    items = found_leftovers.report(root, targets)
    removed: list[dict[str, Any]] = []
    if remove:
        for item in items:
            if item.error is None:
                found_leftovers.remove(item.target, item.names)
                found_leftovers.forget(root, item.target)
                removed.append({"target": item.target.render(), "removed": item.names})
    secrets = get_state(ctx).secrets
    failed = [item for item in items if item.error is not None]
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json({"leftovers": [{"target": i.target.render(), "names": i.names, "error": i.error} for i in items],
                   "removed": removed})
    else:
        if not items:
            click.echo("no restore leftovers")
        for item in items:
            if item.error is not None:
                click.echo(f"{item.target.render()}: could not be checked: {redact(item.error, secrets)}")
            elif remove:
                click.echo("\n".join(f"removed {name}  ({item.target.render()})" for name in item.names))
            else:
                click.echo("\n".join(f"{name}  ({item.target.render()})" for name in item.names))
        if items and not remove and not failed:
            click.echo("remove them with `dbkeeper backup leftovers --remove`"
                       + (f" --to {target}" if target is not None and "@" not in target else ""))
    if failed:
        raise SystemExit(1)
