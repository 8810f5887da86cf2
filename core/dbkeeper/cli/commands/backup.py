"""``dbkeeper backup``: create, list, verify, restore and delete backups.

Passphrases never travel in argv: ``--encrypt`` reads it from
``$DBKEEPER_BACKUP_PASSPHRASE`` (or the variable ``--passphrase-env`` names)
or prompts for it; ``--key-file`` and ``--key-env`` take a 32-byte key.
Results go to stdout (one JSON document with ``--json``, also when the
command fails: then ``{"success": false, "error": ...}``), progress bars to
stderr. Exit status: 0 on success, 1 on failure, 2 for usage and
configuration errors, as every ``dbkeeper`` command (the group is a
:class:`~dbkeeper.cli._group.CommandGroup`). Heavy imports happen inside the
commands so ``--help`` stays instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dbkeeper.cli._connections import db_option
from dbkeeper.cli._errors import CliUsageError
from dbkeeper.cli._group import CommandGroup
from dbkeeper.cli.commands.backup_leftovers import leftovers as leftovers_command
from dbkeeper.cli.commands.backup_leftovers import warn_about_leftovers

if TYPE_CHECKING:
    from dbkeeper.backup.crypto import EncryptionSettings
    from dbkeeper.backup.manager import BackupManager
    from dbkeeper.backup.models import BackupResult

F = TypeVar("F", bound=Callable[..., Any])


def _workspace(func: F) -> F:
    func = click.option("--workspace", metavar="DIR", default=None, type=click.Path(file_okay=False),
                        help="Workspace holding the catalog and archives (default: $DBKEEPER_WORKSPACE).")(func)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(func)


def _keys(*, create: bool) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        options = [
            click.option("--passphrase-env", metavar="VAR", default=None,
                         help="Environment variable holding the passphrase (default DBKEEPER_BACKUP_PASSPHRASE)."),
            click.option("--key-file", metavar="PATH", default=None, type=click.Path(dir_okay=False),
                         help="File holding a 32-byte key (raw, hex or base64)."),
            click.option("--key-env", metavar="VAR", default=None,
                         help="Environment variable holding a 32-byte key (hex or base64)."),
        ]
        if create:
            options.append(click.option("--encrypt", is_flag=True,
                                        help="Encrypt with a passphrase (from the environment or a prompt)."))
            options.append(click.option("--kdf", type=click.Choice(["argon2id", "scrypt"]), default="argon2id",
                                        show_default=True, help="Passphrase key derivation."))
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


def _require_env(*variables: str | None) -> None:
    """A variable named on the command line must be set: checked before anything else is looked at."""
    for variable in variables:
        if variable and not os.environ.get(variable):
            raise CliUsageError(f"environment variable {variable} is not set")


def _encryption(passphrase_env: str | None, key_file: str | None, key_env: str | None, *, wanted: bool,
                kdf: str = "argon2id", confirm: bool = False) -> EncryptionSettings | None:
    from dbkeeper.cli.key_options import cli_encryption

    return cli_encryption(passphrase_env, key_file, key_env, wanted=wanted, kdf=kdf, confirm=confirm)


def _manager(workspace: str | None, url: Any = None) -> BackupManager:
    from dbkeeper.backup.manager import BackupManager

    return BackupManager(workspace_dir=workspace, database_url=url)


def _resolve(target: str | None) -> Any:
    """The URL of a ``--db``/``--to`` value (its secrets recorded for the error boundary), or ``None``."""
    if target is None:
        return None
    from dbkeeper.cli._connections import resolve_db

    return resolve_db(click.get_current_context(), target)[1]


def _remember(encryption: EncryptionSettings | None) -> None:
    """Record the passphrase/key of ``encryption`` so the error boundary redacts it."""
    from dbkeeper.cli._state import get_state

    state = get_state(click.get_current_context())
    for secret in encryption.secrets() if encryption else []:
        state.add_secret(secret)


def _emit(as_json: bool, data: Any, text: str) -> None:
    if as_json:
        from dbkeeper.cli._output import echo_json

        echo_json(data)
    else:
        click.echo(text)


def _result_dict(result: BackupResult) -> dict[str, Any]:
    return result.to_dict()


def _estimated_size(url: Any) -> int | None:
    """The dump size when it is known up front (a SQLite dump is the database file), for the ETA."""
    from pathlib import Path

    if url.scheme == "sqlite" and not url.is_memory and url.database and Path(url.database).is_file():
        return Path(url.database).stat().st_size
    return None


@click.group(cls=CommandGroup)
def backup() -> None:
    """Back up, verify and restore databases (streamed, compressed, optionally encrypted)."""


@backup.command()
@db_option
@click.option("--name", "database_name", default=None, help="Backup set name (default: the connection name).")
@click.option("--compression", type=click.Choice(["zstd", "gzip", "none"]), default="zstd", show_default=True)
@click.option("--level", type=int, default=None, help="Compression level (zstd 1-22, gzip 0-9).")
@click.option("--type", "backup_type", type=click.Choice(["full", "incremental", "differential"]), default="full",
              show_default=True,
              help="incremental: only what the latest backup lacks; differential: only what the latest full lacks.")
@click.option("--chainable/--not-chainable", "chainable", default=None,
              help="A full backup that incremental/differential backups can build on (default: the dialect's "
                   "choice; SQLite, MySQL/MariaDB and Redis yes, PostgreSQL no: its native dump is faster). "
                   "An incremental without a chainable base becomes a chainable full, with a warning.")
@click.option("--schema-only", is_flag=True, help="Schema without rows.")
@click.option("--data-only", is_flag=True, help="Rows without schema.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Tables and key ranges exported at once, and compression threads (default: the dialect's "
                   "choice; MySQL 1, since more sessions take a brief global read lock).")
@_keys(create=True)
@_workspace
def create(*, db: str | None, database_name: str | None, compression: str, level: int | None, backup_type: str,
           chainable: bool | None, schema_only: bool, data_only: bool, workers: int | None,
           passphrase_env: str | None, key_file: str | None, key_env: str | None, encrypt: bool,
           kdf: str, workspace: str | None, as_json: bool) -> None:
    """Create a full, incremental or differential backup of a database."""
    _require_env(passphrase_env, key_env)
    from dbkeeper.backup.progress import ProgressLine
    from dbkeeper.cli._connections import resolve_db

    name, url, _ = resolve_db(click.get_current_context(), db)
    enc = _encryption(passphrase_env, key_file, key_env, wanted=encrypt, kdf=kdf, confirm=True)
    _remember(enc)
    progress = ProgressLine("backup", _estimated_size(url))
    result = _manager(workspace, url).create_backup(
        database_name or name, url, backup_type=backup_type, compression=compression, compression_level=level,
        include_schema=not data_only, include_data=not schema_only, encryption=enc, progress=progress,
        chainable=chainable, workers=workers,
        key_source=lambda: _encryption(passphrase_env, key_file, key_env, wanted=True, kdf=kdf))
    progress.close()
    if not as_json:  # in JSON they are the result's "warnings"
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    _emit(as_json, _result_dict(result),
          f"backup {result.backup_id}: {result.file_size_mb} MB in {result.duration:.2f} s ({result.checksum})"
          if result.success else f"backup failed: {result.error_message}")
    if not result.success:
        raise SystemExit(1)


def _chosen_set(manager: BackupManager, database_name: str | None, db: str | None) -> Any:
    """The backup set ``--name`` (and ``--db``) designate, or ``None`` for "every set"."""
    if database_name is None:
        if db is not None:
            raise CliUsageError("--db picks the server of a backup set: give --name too")
        return None
    return manager.backup_set(database_name, _resolve(db))


@backup.command(name="list")
@click.option("--name", "database_name", default=None, help="Only backups of this set.")
@db_option(help="With --name: the server of the set, when databases of that name live on several servers.")
@_workspace
def list_(database_name: str | None, db: str | None, workspace: str | None, as_json: bool) -> None:
    """List finished backups, oldest first, set by set (a set is one database on one server)."""
    manager = _manager(workspace)
    backups = manager.get_backups(database_name)
    if db is not None:
        chosen = _chosen_set(manager, database_name, db)
        backups = manager.catalog.list(backup_set=chosen) if chosen is not None else []
    warn_about_leftovers(manager.workspace)
    if as_json:
        _emit(True, [b.to_dict() for b in backups], "")
        return
    if not backups:
        click.echo("no backups")
    by_set: dict[str, list[Any]] = {}
    for b in backups:
        by_set.setdefault(str(b.metadata.get("backup_set")), []).append(b)
    for key, members in sorted(by_set.items()):
        click.echo(f"set {key}")
        _echo_chain_tree(members)


def _echo_chain_tree(backups: list[Any]) -> None:
    depth: dict[str, int] = {}
    for b in backups:  # oldest first, so a parent's depth is known before its children's
        parent = b.metadata.get("parent_id")
        depth[b.backup_id] = depth.get(parent, -1) + 1 if parent else 0
        indent = "  " * (depth[b.backup_id] + 1) + ("└ " if parent else "")
        flags = ("  encrypted" if b.encryption else "") + ("  pinned" if b.metadata.get("pinned") else "")
        click.echo(f"{indent}{b.backup_id}  {b.database_name}  {b.database_type}  {b.backup_type}  {b.size_mb} MB  "
                   f"{b.compression}{flags}"
                   f"  {b.metadata.get('status')}  {b.created_at:%Y-%m-%d %H:%M:%S}"
                   + (f"  (parent {parent})" if parent else ""))


@backup.command()
@click.argument("backup_id")
@click.option("--level", type=click.Choice(["quick", "full", "deep"]), default="full", show_default=True)
@click.option("--scratch", "scratch_url", default=None, metavar="URL",
              help="Server URL for deep verification of server backups (default: the original server).")
@_keys(create=False)
@_workspace
def verify(*, backup_id: str, level: str, scratch_url: str | None, passphrase_env: str | None, key_file: str | None,
           key_env: str | None, workspace: str | None, as_json: bool) -> None:
    """Verify a backup: quick (stored bytes), full (decode everything) or deep (restore it)."""
    _require_env(passphrase_env, key_env)
    manager = _manager(workspace)
    backup_ = manager.get_backup(backup_id)
    enc = _encryption(passphrase_env, key_file, key_env, wanted=backup_.encryption and level != "quick")
    result = manager.verify_backup(backup_id, level, encryption=enc, scratch_url=scratch_url)
    _emit(as_json, _result_dict(result),
          f"backup {backup_id}: {level} verification passed" if result.success
          else f"backup {backup_id}: verification FAILED: {result.error_message}")
    if not result.success:
        raise SystemExit(1)


@backup.command()
@click.argument("backup_id")
@click.option("--to", "target", default=None, metavar="URL_OR_NAME",
              help="Where to restore (default: the original database).")
@click.option("--replace", is_flag=True, help="Overwrite a non-empty target.")
@click.option("--portable", is_flag=True,
              help="Drop owners and grants (for a server without the backup's roles; PostgreSQL).")
@_keys(create=False)
@_workspace
def restore(*, backup_id: str, target: str | None, replace: bool, portable: bool, passphrase_env: str | None,
            key_file: str | None, key_env: str | None, workspace: str | None, as_json: bool) -> None:
    """Restore a backup into its original database or another one."""
    _require_env(passphrase_env, key_env)
    from dbkeeper.backup.progress import ProgressLine

    url = _resolve(target)
    manager = _manager(workspace)
    backup_ = manager.get_backup(backup_id)
    enc = _encryption(passphrase_env, key_file, key_env, wanted=backup_.encryption)
    _remember(enc)
    progress = ProgressLine("restore", int(backup_.metadata.get("plain_bytes") or 0) or None)
    result = manager.restore_backup(backup_id, url, replace=replace, encryption=enc, progress=progress,
                                    portable=portable, background_cleanup=True)
    progress.close()
    if not as_json:  # in JSON they are the result's "warnings"
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    _emit(as_json, _result_dict(result), f"restored {backup_id} in {result.duration:.2f} s")


@backup.command()
@click.argument("backup_id")
@click.option("--cascade", is_flag=True, help="Also delete the backups that depend on this one.")
@_workspace
def delete(backup_id: str, cascade: bool, workspace: str | None, as_json: bool) -> None:
    """Delete a backup (its archive and its catalog entry); refused while others depend on it."""
    deleted = _manager(workspace).delete_backup(backup_id, cascade=cascade)
    _emit(as_json, {"backup_id": backup_id, "deleted": deleted},
          f"deleted {backup_id}" if deleted else f"no backup {backup_id}")
    if not deleted:
        raise SystemExit(1)


@backup.command()
@click.option("--name", "database_name", required=True, help="Backup set to prune.")
@db_option(help="The server of the set, when databases of that name live on several servers.")
@click.option("--keep-last", type=click.IntRange(min=0), default=None, help="Keep the newest N backups.")
@click.option("--keep-daily", type=click.IntRange(min=0), default=None, help="Keep the newest backup of N days.")
@click.option("--keep-weekly", type=click.IntRange(min=0), default=None, help="Keep the newest backup of N weeks.")
@click.option("--keep-monthly", type=click.IntRange(min=0), default=None,
              help="Keep the newest backup of N months.")
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@_workspace
def prune(*, database_name: str, db: str | None, keep_last: int | None, keep_daily: int | None, keep_weekly: int | None,
          keep_monthly: int | None, dry_run: bool, workspace: str | None, as_json: bool) -> None:
    """Delete old backups by a retention policy; pinned backups and the chains of kept ones survive."""
    from dbkeeper.backup.retention import check_policy

    try:
        check_policy(keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly, keep_monthly=keep_monthly)
    except ValueError as exc:
        raise CliUsageError(str(exc).replace("keep_", "--keep-").replace("=0", " 0")) from None
    result = _manager(workspace).prune(database_name, keep_last=keep_last, keep_daily=keep_daily,
                                       keep_weekly=keep_weekly, keep_monthly=keep_monthly, dry_run=dry_run,
                                       database_url=_resolve(db))
    verb = "would delete" if dry_run else "deleted"
    lines = [f"{verb} {b}" for b in result.deleted]
    lines += [f"keep {b} ({', '.join(why)})" for b, why in result.kept.items()]
    lines.append(f"{verb} {len(result.deleted)} backup(s), {result.freed_mb} MB; kept {len(result.kept)}")
    _emit(as_json, result.to_dict(), "\n".join(lines))


def _set_pin(backup_id: str, workspace: str | None, as_json: bool, pinned: bool) -> None:
    manager = _manager(workspace)
    manager.pin(backup_id) if pinned else manager.unpin(backup_id)
    _emit(as_json, {"backup_id": backup_id, "pinned": pinned}, f"{'pinned' if pinned else 'unpinned'} {backup_id}")


@backup.command()
@click.argument("backup_id")
@_workspace
def pin(backup_id: str, workspace: str | None, as_json: bool) -> None:
    """Pin a backup: prune never deletes it or anything it depends on."""
    _set_pin(backup_id, workspace, as_json, True)


@backup.command()
@click.argument("backup_id")
@_workspace
def unpin(backup_id: str, workspace: str | None, as_json: bool) -> None:
    """Unpin a backup."""
    _set_pin(backup_id, workspace, as_json, False)


@backup.command()
@click.argument("backup_ids", nargs=-1)
@click.option("--name", "database_name", default=None, help="Re-key every encrypted backup of this set.")
@click.option("--new-passphrase-env", metavar="VAR", default=None,
              help="Environment variable holding the new passphrase (otherwise prompted).")
@click.option("--new-key-file", metavar="PATH", default=None, type=click.Path(dir_okay=False),
              help="File holding the new 32-byte key.")
@click.option("--new-key-env", metavar="VAR", default=None, help="Environment variable holding the new 32-byte key.")
@click.option("--new-kdf", type=click.Choice(["argon2id", "scrypt"]), default="argon2id", show_default=True)
@click.option("--keep-old", is_flag=True, help="Keep the old key slots (the backups then open with either key).")
@_keys(create=False)
@_workspace
def rekey(*, backup_ids: tuple[str, ...], database_name: str | None, new_passphrase_env: str | None,
          new_key_file: str | None, new_key_env: str | None, new_kdf: str, keep_old: bool,
          passphrase_env: str | None, key_file: str | None, key_env: str | None, workspace: str | None,
          as_json: bool) -> None:
    """Re-wrap the data keys of backups under a new passphrase or key; no chunk is rewritten."""
    _require_env(passphrase_env, new_passphrase_env, key_env)
    from dbkeeper.backup.crypto import EncryptionSettings

    manager = _manager(workspace)
    ids = list(backup_ids)
    if database_name is not None:
        ids += [b.backup_id for b in manager.get_backups(database_name) if b.encryption and b.backup_id not in ids]
    if not ids:
        raise click.UsageError("name the backups to re-key (BACKUP_ID ... or --name NAME)")
    old = _encryption(passphrase_env, key_file, key_env, wanted=True)
    assert old is not None
    _remember(old)
    new: EncryptionSettings | None
    if new_key_file:
        new = EncryptionSettings(key_file=new_key_file)
    elif new_key_env:
        new = EncryptionSettings(key_env=new_key_env)
    else:
        value = os.environ.get(new_passphrase_env) if new_passphrase_env else None
        if new_passphrase_env and not value:
            raise CliUsageError(f"environment variable {new_passphrase_env} is not set")
        if not value:
            from dbkeeper.cli.key_options import prompt_passphrase

            value = prompt_passphrase("New backup passphrase", confirm=True)
        new = EncryptionSettings(passphrase=value, kdf=new_kdf)
    _remember(new)
    checksums = manager.rekey(ids, old, new, keep_old=keep_old)
    _emit(as_json, {"rekeyed": checksums, "old_slots_kept": keep_old},
          "\n".join(f"re-keyed {b} ({c})" for b, c in checksums.items()))

backup.add_command(leftovers_command)

if __name__ == "__main__":  # pragma: no cover
    backup()
