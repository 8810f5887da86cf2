"""Where the ``dbkeeper backup`` commands get a key: an option, the environment, or a prompt.

Asking for a key and supplying one are different things. ``--encrypt`` (or
an incremental on an encrypted base, or restoring an encrypted backup) asks
for a key; ``DBKEEPER_BACKUP_PASSPHRASE`` / ``DBKEEPER_BACKUP_KEY`` only
supply it. A passphrase left in the environment therefore no longer turns
encryption on for every backup (a short one made plain backups fail).
``--key-file``, ``--key-env`` and ``--passphrase-env`` name a key
explicitly and so ask for encryption themselves.

Without a key in the environment the passphrase is prompted for, on a
terminal only: without one there is nobody to answer (``getpass`` printed a
Python warning and read stdin), so the command stops with exit code 2 and
says how to supply the key.
"""

from __future__ import annotations

import os
import sys

import click

from dbkeeper.backup.crypto import KEY_ENV, PASSPHRASE_ENV, EncryptionSettings

HOW_TO_SUPPLY = (f"set {PASSPHRASE_ENV} (a passphrase) or {KEY_ENV} (a 32-byte key, hex or base64), or pass "
                 "--key-file PATH, --key-env VAR or --passphrase-env VAR")


class KeyNotSupplied(click.ClickException):
    """A key is needed and none was supplied, with no terminal to prompt on: a usage error (exit 2)."""

    exit_code = 2


def cli_encryption(passphrase_env: str | None, key_file: str | None, key_env: str | None, *, wanted: bool,
                   kdf: str = "argon2id", confirm: bool = False) -> EncryptionSettings | None:
    """The key settings for one command: ``None`` when no key is asked for.

    ``wanted`` is whether the command needs a key (``--encrypt``, an
    encrypted backup to read); the options name one explicitly.
    """
    if key_file:
        return EncryptionSettings(key_file=key_file, kdf=kdf)
    if key_env:
        return EncryptionSettings(key_env=key_env, kdf=kdf)
    if passphrase_env:
        value = os.environ.get(passphrase_env)
        if not value:
            raise KeyNotSupplied(f"environment variable {passphrase_env} (--passphrase-env) is not set")
        return EncryptionSettings(passphrase=value, kdf=kdf)
    if not wanted:
        return None
    passphrase, key = os.environ.get(PASSPHRASE_ENV), os.environ.get(KEY_ENV)
    if passphrase and key:
        raise KeyNotSupplied(f"both {PASSPHRASE_ENV} and {KEY_ENV} are set; say which one to use with "
                             f"--passphrase-env {PASSPHRASE_ENV} or --key-env {KEY_ENV}")
    if passphrase:
        return EncryptionSettings(passphrase=passphrase, kdf=kdf)
    if key:
        return EncryptionSettings(key_env=KEY_ENV, kdf=kdf)
    return EncryptionSettings(passphrase=prompt_passphrase("Backup passphrase", confirm=confirm), kdf=kdf)


def prompt_passphrase(label: str, *, confirm: bool) -> str:
    """Prompt on the terminal; without one, :class:`KeyNotSupplied` saying how to supply the key instead."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise KeyNotSupplied(f"a backup key is needed and there is no terminal to ask for a passphrase: "
                             f"{HOW_TO_SUPPLY}")
    value: str = click.prompt(label, hide_input=True, confirmation_prompt=confirm, err=True)
    return value


__all__ = ["HOW_TO_SUPPLY", "KeyNotSupplied", "cli_encryption", "prompt_passphrase"]
