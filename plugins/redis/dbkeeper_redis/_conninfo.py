"""Turn a parsed ``redis://`` / ``rediss://`` URL into redis-py keyword arguments.

The password goes to redis-py as a keyword argument, never inside a URL
string that redis-py could echo in an error. The URL's query string may hold
a short, explicit list of options (see :data:`ALLOWED_OPTIONS`); anything
else is refused with that list, and ``password`` is refused outright because
URL options are shown in logs and reports.
"""

from __future__ import annotations

from typing import Any

from dbkeeper.urls import DatabaseURL
from dbkeeper_redis.errors import RedisURLError

DEFAULT_PORT = 6379
#: Seconds one command may take when the URL sets no ``socket_timeout``: long enough for DUMP/RESTORE of
#: a very large key, short enough that a hung server is reported instead of waited on forever.
DEFAULT_SOCKET_TIMEOUT = 300.0
TLS_SCHEME = "rediss"

#: URL query options and what they set.
ALLOWED_OPTIONS: dict[str, str] = {
    "client_name": "CLIENT SETNAME for dbkeeper's connections (default dbkeeper)",
    "socket_timeout": "seconds a command may take before the connection is dropped (default 300)",
    "connect_timeout": "seconds to wait for the TCP (and TLS) handshake",
    "ssl_cert_reqs": "rediss only: none, optional or required (default required)",
    "ssl_ca_certs": "rediss only: CA bundle that signs the server certificate",
    "ssl_certfile": "rediss only: client certificate for mutual TLS",
    "ssl_keyfile": "rediss only: key of the client certificate",
    "ssl_check_hostname": "rediss only: true or false (default true)",
}
_REFUSED = {"password", "pass", "requirepass"}
_TLS_ONLY = {name for name in ALLOWED_OPTIONS if name.startswith("ssl_")}


def is_number(database: str | None) -> bool:
    """True when the URL's database is a plain database number (``/0``, ``/3``) or absent."""
    return database is None or database == "" or database.isdigit()


def database_number(database: str | None) -> int:
    """The numbered database of a URL whose database :func:`is_number`."""
    return int(database) if database else 0


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise RedisURLError(f"URL option {name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise RedisURLError(f"URL option {name}={raw!r} must be positive")
    return value


def _flag(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise RedisURLError(f"URL option {name}={raw!r} must be true or false")


def connect_kwargs(url: DatabaseURL, *, db: int, timeout: float | None) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` (one dedicated connection, no redis-py retries).

    redis-py's own retries are switched off: a dead connection must surface
    so that dbkeeper's pool discards it and counts the reconnect, and a
    write must never be re-sent behind the caller's back.
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    options = url.options
    for name in options:
        if name in _REFUSED:
            raise RedisURLError(f"put the password in the URL's user-info part (redis://user:PASSWORD@host), not "
                                f"in the option {name!r}: URL options are shown in logs")
        if name not in ALLOWED_OPTIONS:
            allowed = ", ".join(sorted(ALLOWED_OPTIONS))
            raise RedisURLError(f"unknown redis URL option {name!r}; allowed: {allowed}")
    tls = url.scheme == TLS_SCHEME
    if not tls and _TLS_ONLY & set(options):
        raise RedisURLError(f"URL options {sorted(_TLS_ONLY & set(options))} need a rediss:// (TLS) URL")
    connect_timeout = _seconds("connect_timeout", options["connect_timeout"]) if "connect_timeout" in options \
        else timeout
    kwargs: dict[str, Any] = {
        "host": url.host or "127.0.0.1",
        "port": url.port or DEFAULT_PORT,
        "db": db,
        "username": url.username or None,  # redis://:pw@host has an empty user: the default user
        "password": url.password,
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": _seconds("socket_timeout", options["socket_timeout"]) if "socket_timeout" in options
        else DEFAULT_SOCKET_TIMEOUT,
        "client_name": options.get("client_name", "dbkeeper"),
        "single_connection_client": True,
        "retry": Retry(NoBackoff(), 0),
        "retry_on_error": [],
        "decode_responses": False,
    }
    if tls:
        kwargs["ssl"] = True
        cert_reqs = options.get("ssl_cert_reqs", "required").lower()
        if cert_reqs not in {"none", "optional", "required"}:
            raise RedisURLError(f"URL option ssl_cert_reqs={cert_reqs!r} must be none, optional or required")
        kwargs["ssl_cert_reqs"] = cert_reqs
        for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            if name in options:
                kwargs[name] = options[name]
        if "ssl_check_hostname" in options:
            kwargs["ssl_check_hostname"] = _flag("ssl_check_hostname", options["ssl_check_hostname"])
    return kwargs
