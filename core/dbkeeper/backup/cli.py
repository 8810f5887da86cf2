"""``dbkeeper backup``: create, list, verify, restore and delete backups.

Passphrases never travel in argv: ``--encrypt`` reads it from
``$DBKEEPER_BACKUP_PASSPHRASE`` (or the variable ``--passphrase-env`` names)
or prompts for it; ``--key-file`` and ``--key-env`` take a 32-byte key.
Results go to stdout (one JSON document with ``--json``), progress bars to
stderr. Exit status: 0 on success, 1 on failure. Heavy imports happen inside
the commands so ``--help`` stays instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

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


def _encryption(passphrase_env: str | None, key_file: str | None, key_env: str | None, *, wanted: bool,
                kdf: str = "argon2id", confirm: bool = False) -> EncryptionSettings | None:
    from dbkeeper.backup.crypto import PASSPHRASE_ENV, EncryptionSettings

    if key_file:
        return EncryptionSettings(key_file=key_file, kdf=kdf)
    if key_env:
        return EncryptionSettings(key_env=key_env, kdf=kdf)
    variable = passphrase_env or PASSPHRASE_ENV
    if passphrase_env or wanted or os.environ.get(variable):
        secret = os.environ.get(variable)
        if not secret:
            if passphrase_env:
                raise click.ClickException(f"environment variable {passphrase_env} is not set")
            secret = click.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
        return EncryptionSettings(passphrase=secret, kdf=kdf)
    return None


def _manager(workspace: str | None, url: Any = None) -> BackupManager:
    from dbkeeper.backup.manager import BackupManager

    return BackupManager(workspace_dir=workspace, database_url=url)


def _fail(exc: Exception, secrets: list[str | None]) -> click.ClickException:
    from dbkeeper.redaction import redact

    return click.ClickException(redact(str(exc), secrets))


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


@click.group()
def backup() -> None:
    """Back up, verify and restore databases (streamed, compressed, optionally encrypted)."""


@backup.command()
@click.option("--db", "db", metavar="URL_OR_NAME", default=None,
              help="Database URL or connection name (default: $DBKEEPER_URL, then the config default).")
@click.option("--name", "database_name", default=None, help="Backup set name (default: the connection name).")
@click.option("--compression", type=click.Choice(["zstd", "gzip", "none"]), default="zstd", show_default=True)
@click.option("--level", type=int, default=None, help="Compression level (zstd 1-22, gzip 0-9).")
@click.option("--schema-only", is_flag=True, help="Schema without rows.")
@click.option("--data-only", is_flag=True, help="Rows without schema.")
@_keys(create=True)
@_workspace
def create(*, db: str | None, database_name: str | None, compression: str, level: int | None, schema_only: bool,
           data_only: bool, passphrase_env: str | None, key_file: str | None, key_env: str | None, encrypt: bool,
           kdf: str, workspace: str | None, as_json: bool) -> None:
    """Create a full backup of a database."""
    from dbkeeper.backup.progress import ProgressLine
    from dbkeeper.config import resolve_database
    from dbkeeper.errors import DbKeeperError

    secrets: list[str | None] = []
    try:
        name, url, _ = resolve_database(db)
        secrets.append(url.password)
        enc = _encryption(passphrase_env, key_file, key_env, wanted=encrypt, kdf=kdf, confirm=True)
        secrets += enc.secrets() if enc else []
        progress = ProgressLine("backup", _estimated_size(url))
        result = _manager(workspace, url).create_backup(
            database_name or name, url, compression=compression, compression_level=level,
            include_schema=not data_only, include_data=not schema_only, encryption=enc, progress=progress)
        progress.close()
    except DbKeeperError as exc:
        raise _fail(exc, secrets) from None
    _emit(as_json, _result_dict(result),
          f"backup {result.backup_id}: {result.file_size_mb} MB in {result.duration:.2f} s ({result.checksum})"
          if result.success else f"backup failed: {result.error_message}")
    if not result.success:
        raise SystemExit(1)


@backup.command(name="list")
@click.option("--name", "database_name", default=None, help="Only backups of this set.")
@_workspace
def list_(database_name: str | None, workspace: str | None, as_json: bool) -> None:
    """List finished backups, oldest first."""
    backups = _manager(workspace).list_backups(database_name)
    if as_json:
        _emit(True, [b.to_dict() for b in backups], "")
        return
    if not backups:
        click.echo("no backups")
    for b in backups:
        click.echo(f"{b.backup_id}  {b.database_name}  {b.database_type}  {b.backup_type}  {b.size_mb} MB  "
                   f"{b.compression}{'  encrypted' if b.encryption else ''}  {b.metadata.get('status')}  "
                   f"{b.created_at:%Y-%m-%d %H:%M:%S}")


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
    from dbkeeper.errors import DbKeeperError

    try:
        manager = _manager(workspace)
        backup_ = manager.get_backup(backup_id)
        enc = _encryption(passphrase_env, key_file, key_env, wanted=backup_.encryption and level != "quick")
        result = manager.verify_backup(backup_id, level, encryption=enc, scratch_url=scratch_url)
    except DbKeeperError as exc:
        raise _fail(exc, []) from None
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
@_keys(create=False)
@_workspace
def restore(*, backup_id: str, target: str | None, replace: bool, passphrase_env: str | None, key_file: str | None,
            key_env: str | None, workspace: str | None, as_json: bool) -> None:
    """Restore a backup into its original database or another one."""
    from dbkeeper.backup.progress import ProgressLine
    from dbkeeper.errors import DbKeeperError

    secrets: list[str | None] = []
    try:
        url = None
        if target is not None:
            from dbkeeper.config import resolve_database

            url = resolve_database(target)[1]
            secrets.append(url.password)
        manager = _manager(workspace)
        backup_ = manager.get_backup(backup_id)
        enc = _encryption(passphrase_env, key_file, key_env, wanted=backup_.encryption)
        secrets += enc.secrets() if enc else []
        progress = ProgressLine("restore", int(backup_.metadata.get("plain_bytes") or 0) or None)
        result = manager.restore_backup(backup_id, url, replace=replace, encryption=enc, progress=progress)
        progress.close()
    except DbKeeperError as exc:
        raise _fail(exc, secrets) from None
    _emit(as_json, _result_dict(result), f"restored {backup_id} in {result.duration:.2f} s")


@backup.command()
@click.argument("backup_id")
@_workspace
def delete(backup_id: str, workspace: str | None, as_json: bool) -> None:
    """Delete a backup (its archive and its catalog entry)."""
    deleted = _manager(workspace).delete_backup(backup_id)
    _emit(as_json, {"backup_id": backup_id, "deleted": deleted},
          f"deleted {backup_id}" if deleted else f"no backup {backup_id}")
    if not deleted:
        raise SystemExit(1)


if __name__ == "__main__":  # pragma: no cover
    backup()
