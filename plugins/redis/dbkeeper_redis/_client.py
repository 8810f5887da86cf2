"""A dedicated Redis connection for the dialect's own multi-command work, with errors made typed.

Introspection, metrics, dumps and restores run SCANs and pipelines that
must not tie up (or ``SELECT`` away) a pooled connection, so each opens one
connection of its own the way the pool does (``PluginRegistry.connect``: a
``dbkeeper_connect`` plugin still decides how Redis connections are made) and closes it
when done. redis-py exceptions leave as :class:`~dbkeeper.errors.DbKeeperError`
subclasses with the password redacted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dbkeeper.errors import ConnectionError, DbKeeperError, QueryError
from dbkeeper.redaction import redact

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session
    from dbkeeper_redis.command import RedisConnection


@contextmanager
def dedicated(connection: Session, *, what: str) -> Iterator[RedisConnection]:
    """Open a private connection to ``connection``'s database for ``what`` (named in errors)."""
    import redis

    from dbkeeper.engine.plugins import get_registry

    secrets = [connection.url.password, connection.password]
    where = connection.url.render()
    try:
        raw: RedisConnection = get_registry().connect(connection.dialect, connection.url,
                                                      timeout=connection.connection_timeout)
    except DbKeeperError:
        raise
    except Exception as exc:
        raise ConnectionError(f"cannot connect to {where} for {what}: {redact(str(exc), secrets)}") from None
    try:
        yield raw
    except DbKeeperError:
        raise
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ConnectionError(f"connection to {where} was lost during {what}: {redact(str(exc), secrets)}") \
            from None
    except redis.ResponseError as exc:
        raise QueryError(f"{where}: Redis refused a command during {what}: {redact(str(exc), secrets)}") from None
    finally:
        raw.close()
