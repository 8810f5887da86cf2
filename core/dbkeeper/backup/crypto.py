"""Authenticated encryption of chunks and wrapping of the per-backup key.

Every backup gets a fresh random 256-bit *data key*; chunks are sealed with
AES-256-GCM under it. The data key itself is stored in the archive header
*wrapped* (AES-256-GCM again) by a *key-encryption key* that comes from a
passphrase (Argon2id or scrypt, parameters and salt stored in the header) or
from a 32-byte key file / environment variable. Rotating the passphrase only
rewrites that wrapped key; the chunks are untouched.

Nonces are derived from the frame kind and index: unique because the data
key is never reused across backups. The associated data binds the digest of
the header core (which holds the backup id) plus kind and index, so frames
can be neither swapped, moved to another backup, nor replayed.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbkeeper.backup.errors import CorruptBackupError, EncryptionError, KeyFilePermissionError

CIPHER = "AES-256-GCM"
KEY_SIZE = 32
#: OWASP Password Storage Cheat Sheet (2024/2025) minimums.
ARGON2ID_DEFAULTS: dict[str, int] = {"memory_kib": 19456, "iterations": 2, "lanes": 1}
SCRYPT_DEFAULTS: dict[str, int] = {"n": 2**17, "r": 8, "p": 1}
#: The largest cost a header may ask of the key derivation (``docs/backup-format.md``). The header is read
#: before the key opens anything, so these bound what a crafted archive can make a reader spend: 1 GiB of
#: memory, and a few seconds of CPU, at most. The defaults are far inside them.
ARGON2ID_LIMITS: dict[str, tuple[int, int]] = {"memory_kib": (8, 1 << 20), "iterations": (1, 16), "lanes": (1, 16)}
SCRYPT_LIMITS: dict[str, tuple[int, int]] = {"n": (2, 1 << 20), "r": (1, 32), "p": (1, 16)}
#: scrypt needs 128 * n * r bytes (and p times the CPU); that product is bounded like Argon2's memory.
SCRYPT_MAX_MEMORY = 1 << 30
SCRYPT_MAX_WORK = 1 << 22  # n * p: 2^20 with p=4, or the default 2^17 with p up to 32
SALT_BYTES = (8, 64)
KEY_ENV = "DBKEEPER_BACKUP_KEY"
PASSPHRASE_ENV = "DBKEEPER_BACKUP_PASSPHRASE"


@dataclass(repr=False)
class EncryptionSettings:
    """Where the key-encryption key comes from. ``repr`` never shows secrets.

    Exactly one of ``passphrase``, ``key_file`` and ``key_env`` is set.
    ``kdf`` is ``"argon2id"`` (default) or ``"scrypt"``; ``kdf_params``
    overrides the cost parameters (tests lower them explicitly; the default
    never is).
    """

    passphrase: str | None = None
    key_file: str | os.PathLike[str] | None = None
    key_env: str | None = None
    kdf: str = "argon2id"
    kdf_params: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        source = "passphrase" if self.passphrase else "key_file" if self.key_file else "key_env"
        return f"EncryptionSettings(source={source}, kdf={self.kdf})"

    def secrets(self) -> list[str]:
        """Strings that must never be printed (for redaction)."""
        return [self.passphrase] if self.passphrase else []


def _load_key_bytes(raw: bytes, where: str) -> bytes:
    text = raw.strip()
    if len(raw) == KEY_SIZE:
        return raw
    try:
        if len(text) == 2 * KEY_SIZE:
            return binascii.unhexlify(text)
        decoded = base64.b64decode(text, validate=True)
        if len(decoded) == KEY_SIZE:
            return decoded
    except (ValueError, binascii.Error):
        pass
    raise EncryptionError(f"{where} must hold a 32-byte key: 32 raw bytes, 64 hex digits or base64 "
                          "(create one with: python -c \"import secrets; print(secrets.token_hex(32))\")")


def validate(settings: EncryptionSettings) -> None:
    """Check that encryption is usable before any work starts (raise :class:`EncryptionError`)."""
    sources = [s for s in (settings.passphrase, settings.key_file, settings.key_env) if s]
    if len(sources) != 1:
        raise EncryptionError("encryption needs exactly one of: a passphrase, a key file, a key environment "
                              f"variable (got {len(sources)})")
    if settings.kdf not in ("argon2id", "scrypt"):
        raise EncryptionError(f"unknown key derivation {settings.kdf!r}; use 'argon2id' or 'scrypt'")
    if settings.key_file or settings.key_env:
        static_key(settings)
    elif settings.passphrase is not None and len(settings.passphrase) < 8:
        raise EncryptionError("the backup passphrase must be at least 8 characters long")


def static_key(settings: EncryptionSettings) -> bytes:
    """The key-encryption key read from the key file or environment variable."""
    if settings.key_file:
        path = Path(settings.key_file).expanduser()
        try:
            raw = path.read_bytes()
            mode = path.stat().st_mode
        except OSError as exc:
            raise EncryptionError(f"cannot read backup key file {path}: {exc.strerror}") from None
        check_key_file_mode(path, mode)
        return _load_key_bytes(raw, f"key file {path}")
    name = settings.key_env or KEY_ENV
    value = os.environ.get(name)
    if not value:
        raise EncryptionError(f"environment variable {name} holding the backup key is not set")
    return _load_key_bytes(value.encode(), f"environment variable {name}")


def check_key_file_mode(path: Path, mode: int) -> None:
    """Refuse a key file that group or others may read or write, as ssh refuses such a private key.

    Such a key is as good as published to every account on the machine; a
    key that works anyway teaches nobody to fix it. (Not checked on
    Windows, whose ACLs the mode bits do not describe.)
    """
    if os.name == "nt" or not mode & 0o077:
        return
    raise KeyFilePermissionError(f"backup key file {path} is accessible by group or others (mode "
                                 f"{mode & 0o777:04o}); dbkeeper will not use it. Run: chmod 600 {path}")


def _bounded(kdf: dict[str, Any], limits: dict[str, tuple[int, int]]) -> dict[str, int]:
    """The KDF parameters of a header, each an integer inside its limits (else :class:`CorruptBackupError`)."""
    params: dict[str, int] = {}
    for name, (low, high) in limits.items():
        value = kdf.get(name)
        if type(value) is not int or not low <= value <= high:
            raise CorruptBackupError(f"the archive asks the key derivation for {name}={value!r}, outside "
                                     f"{low}..{high}; the header is damaged or crafted (see docs/backup-format.md)")
        params[name] = value
    return params


def kdf_parameters(kdf: dict[str, Any]) -> dict[str, int]:
    """Check a passphrase KDF section against the documented bounds; return its cost parameters.

    Run before the KDF on every header, and on new settings, so no archive
    can ask for more memory or time than the bounds allow.
    """
    name = kdf.get("name")
    if name == "argon2id":
        params = _bounded(kdf, ARGON2ID_LIMITS)
        if params["memory_kib"] < 8 * params["lanes"]:
            raise CorruptBackupError(f"the archive's Argon2id memory_kib={params['memory_kib']} is below 8 x lanes; "
                                     "the header is damaged or crafted")
        return params
    if name == "scrypt":
        params = _bounded(kdf, SCRYPT_LIMITS)
        n, r, p = params["n"], params["r"], params["p"]
        if n & (n - 1) or 128 * n * r > SCRYPT_MAX_MEMORY or n * p > SCRYPT_MAX_WORK:
            raise CorruptBackupError(f"the archive asks scrypt for n={n}, r={r}, p={p}: n must be a power of two, "
                                     f"128*n*r at most {SCRYPT_MAX_MEMORY} bytes and n*p at most {SCRYPT_MAX_WORK}; "
                                     "the header is damaged or crafted")
        return params
    raise EncryptionError(f"archive uses unknown key derivation {name!r}; upgrade dbkeeper")


def costs_more_than_defaults(kdf: Any) -> bool:
    """Whether a header's KDF section asks for more than new backups get by default (or is malformed).

    A header within the defaults costs a reader no more than an honest
    verification; one above them is worth checking against the catalog
    before it reaches the KDF.
    """
    if not isinstance(kdf, dict) or kdf.get("name") in ("keyfile", "keyenv"):
        return not isinstance(kdf, dict)
    defaults = {"argon2id": ARGON2ID_DEFAULTS, "scrypt": SCRYPT_DEFAULTS}.get(str(kdf.get("name")))
    if defaults is None:
        return True
    return any(type(kdf.get(name)) is not int or kdf[name] > limit for name, limit in defaults.items())


def _salt(kdf: dict[str, Any]) -> bytes:
    try:
        salt = base64.b64decode(str(kdf["salt"]), validate=True)
    except (KeyError, ValueError, binascii.Error):
        raise CorruptBackupError("the archive's key derivation salt is missing or not base64; the header is "
                                 "damaged") from None
    if not SALT_BYTES[0] <= len(salt) <= SALT_BYTES[1]:
        raise CorruptBackupError(f"the archive's key derivation salt is {len(salt)} bytes, outside "
                                 f"{SALT_BYTES[0]}..{SALT_BYTES[1]}; the header is damaged")
    return salt


def derive_kek(settings: EncryptionSettings, kdf: dict[str, Any]) -> bytes:
    """The key-encryption key for header section ``kdf`` (as stored in the archive).

    Every parameter is checked against the documented bounds first
    (:func:`kdf_parameters`): a crafted header is a :class:`CorruptBackupError`,
    never a 64 GiB allocation or minutes of hashing.
    """
    if not isinstance(kdf, dict):
        raise CorruptBackupError("the archive's key slot has no key derivation section; the header is damaged")
    name = kdf.get("name")
    if name in ("keyfile", "keyenv"):
        if not (settings.key_file or settings.key_env):
            raise EncryptionError("this backup was encrypted with a key file or key variable; supply that key")
        return static_key(settings)
    params = kdf_parameters(kdf)
    salt = _salt(kdf)
    if not settings.passphrase:
        raise EncryptionError("this backup was encrypted with a passphrase; supply it")
    secret = settings.passphrase.encode()
    if name == "argon2id":
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

        return Argon2id(salt=salt, length=KEY_SIZE, iterations=params["iterations"], lanes=params["lanes"],
                        memory_cost=params["memory_kib"]).derive(secret)
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=KEY_SIZE, n=params["n"], r=params["r"], p=params["p"]).derive(secret)


def new_kdf_section(settings: EncryptionSettings) -> dict[str, Any]:
    """Fresh KDF parameters (with a random salt) for a new backup; inside the bounds every reader enforces."""
    if settings.key_file:
        return {"name": "keyfile"}
    if settings.key_env:
        return {"name": "keyenv", "variable": settings.key_env}
    base = ARGON2ID_DEFAULTS if settings.kdf == "argon2id" else SCRYPT_DEFAULTS
    section: dict[str, Any] = {"name": settings.kdf, **base, **settings.kdf_params}
    try:
        kdf_parameters(section)
    except CorruptBackupError as exc:
        raise EncryptionError(f"kdf_params {settings.kdf_params!r} are outside the bounds readers accept: "
                              f"{str(exc).split('; the header')[0]}") from None
    return {**section, "salt": base64.b64encode(secrets.token_bytes(16)).decode()}


def wrap_key(kek: bytes, data_key: bytes, aad: bytes) -> dict[str, str]:
    """Seal ``data_key`` under ``kek``; the result goes into the header."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(kek).encrypt(nonce, data_key, aad)
    return {"nonce": base64.b64encode(nonce).decode(), "key": base64.b64encode(sealed).decode()}


def unwrap_key(kek: bytes, wrapped: dict[str, str], aad: bytes) -> bytes:
    """Open the wrapped data key; a wrong passphrase or key is an :class:`EncryptionError`."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        nonce, sealed = base64.b64decode(wrapped["nonce"]), base64.b64decode(wrapped["key"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise CorruptBackupError("the archive's wrapped key is missing or not base64; the header is damaged") \
            from None
    if len(nonce) != 12:
        raise CorruptBackupError("the archive's wrapped key has a nonce that is not 12 bytes; the header is damaged")
    try:
        return AESGCM(kek).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise EncryptionError("wrong passphrase or key for this backup (the data key could not be unwrapped)") \
            from None


class FrameCipher:
    """AES-256-GCM over frames, nonce and associated data bound to kind and index."""

    def __init__(self, data_key: bytes, core_digest: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(data_key)
        self._digest = core_digest

    def _nonce_aad(self, kind: bytes, index: int) -> tuple[bytes, bytes]:
        nonce = kind.ljust(4, b"\0") + struct.pack(">Q", index)
        return nonce, self._digest + kind + struct.pack(">Q", index)

    def seal(self, kind: bytes, index: int, data: bytes) -> bytes:
        nonce, aad = self._nonce_aad(kind, index)
        return self._aead.encrypt(nonce, data, aad)

    def open(self, kind: bytes, index: int, data: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        from dbkeeper.backup.errors import CorruptBackupError

        nonce, aad = self._nonce_aad(kind, index)
        try:
            return self._aead.decrypt(nonce, data, aad)
        except InvalidTag:
            raise CorruptBackupError(f"frame {index} failed authentication (tampered, moved or wrong key)") \
                from None


def new_data_key() -> bytes:
    """A fresh random per-backup data key."""
    return secrets.token_bytes(KEY_SIZE)
