"""The Redis plugin's typed errors, all :class:`~dbkeeper.errors.DbKeeperError` subclasses.

Callers catch the core's classes (``ConfigurationError``, ``BackupError``...)
and never need to know these exist; they are narrower so tests and scripts
can tell a missing scratch database from a malformed URL.
"""

from __future__ import annotations

from dbkeeper.backup.errors import BackupError, CorruptBackupError
from dbkeeper.errors import ConfigurationError, DbKeeperError


class RedisDialectError(DbKeeperError):
    """Base class of the errors only the Redis plugin raises."""


class RedisURLError(RedisDialectError, ConfigurationError):
    """A ``redis://`` or ``rediss://`` URL names a bad database, option or value."""


class NoFreeDatabaseError(RedisDialectError, ConfigurationError):
    """Every numbered database 1..N-1 holds keys, so no scratch database can be claimed."""


class UnknownScratchDatabaseError(RedisDialectError, ConfigurationError):
    """A URL names a database that is neither a number nor a scratch database claimed on the server."""


class RedisDumpError(RedisDialectError, BackupError):
    """The server refused a command the dump or restore needs (ACL, renamed command, payload version)."""


class RedisDumpFormatError(RedisDialectError, CorruptBackupError):
    """A dump stream does not follow the framing of :mod:`dbkeeper_redis.dump`."""
