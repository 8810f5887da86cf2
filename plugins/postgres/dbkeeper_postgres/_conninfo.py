"""Turn a dbkeeper URL into keyword arguments for ``psycopg.connect``.

Host, port, user, password and database go to psycopg as separate keyword
arguments: the password never travels inside a DSN string that an error
message or a process listing could show. The URL's query string may carry
libpq connection parameters (TLS files, ``application_name``, ``options``,
``target_session_attrs``...), listed in :data:`LIBPQ_OPTIONS`; anything
else is refused with the list of allowed names, because libpq would
otherwise fail later with a less helpful message (or, for a misspelled
``sslmode``, silently connect without TLS).
"""

from __future__ import annotations

import math
from typing import Any

from dbkeeper.errors import ConfigurationError
from dbkeeper.urls import DatabaseURL

#: libpq connection parameters accepted in the URL query string.
LIBPQ_OPTIONS: frozenset[str] = frozenset({
    # where and as whom (only when the URL body does not already say it)
    "host", "hostaddr", "port", "user", "dbname", "service", "passfile",
    # TLS
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslcrldir", "sslsni", "sslcompression",
    "sslcertmode", "sslnegotiation", "ssl_min_protocol_version", "ssl_max_protocol_version", "requiressl",
    # authentication
    "channel_binding", "require_auth", "requirepeer", "gssencmode", "krbsrvname", "gsslib", "gssdelegation",
    # session
    "application_name", "fallback_application_name", "options", "client_encoding", "target_session_attrs",
    "load_balance_hosts",
    # network
    "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout",
})

#: psycopg connection arguments (not libpq parameters) accepted in the URL query string.
DRIVER_OPTIONS: frozenset[str] = frozenset({"prepare_threshold"})

#: Query options refused with a reason: they are secrets, and a URL's query string is printed.
_SECRET_OPTIONS = {
    "password": "put it in the URL as user:password@host, or use passfile=... or a service file",
    "sslpassword": "use an unencrypted key file with restricted permissions, or a service file (service=...)",
}

#: Query options that duplicate a part of the URL body.
_URL_PARTS = {"host": "host", "port": "port", "user": "username", "dbname": "database"}

DEFAULT_APPLICATION_NAME = "dbkeeper"


def allowed_options() -> list[str]:
    """Every option name the URL query string may carry, sorted."""
    return sorted(LIBPQ_OPTIONS | DRIVER_OPTIONS)


def connect_kwargs(url: DatabaseURL, *, timeout: float | None = None) -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect``/``AsyncConnection.connect`` (without ``autocommit``).

    ``timeout`` (seconds) becomes libpq's ``connect_timeout`` unless the URL
    sets one. Raises :class:`~dbkeeper.errors.ConfigurationError` for an
    unknown, secret or contradictory option.
    """
    kwargs: dict[str, Any] = {}
    if url.host:
        kwargs["host"] = url.host
    if url.port is not None:
        kwargs["port"] = url.port
    if url.username is not None:
        kwargs["user"] = url.username
    if url.password is not None:
        kwargs["password"] = url.password
    if url.database:
        kwargs["dbname"] = url.database
    for key, value in url.query:
        if key in _SECRET_OPTIONS:
            raise ConfigurationError(
                f"refusing URL option {key!r} in {url.render()}: URL options are shown in logs and "
                f"reports; {_SECRET_OPTIONS[key]}"
            )
        if key not in LIBPQ_OPTIONS and key not in DRIVER_OPTIONS:
            raise _unknown_option(url, key)
        if key in _URL_PARTS and getattr(url, _URL_PARTS[key]) not in (None, ""):
            raise ConfigurationError(
                f"URL option {key!r} repeats the {_URL_PARTS[key]} already given in {url.render()}; "
                "give it once"
            )
        if key == "prepare_threshold":
            kwargs[key] = _prepare_threshold(url, value)
        else:
            kwargs[key] = value
    if "connect_timeout" in kwargs:
        kwargs["connect_timeout"] = _seconds(url, kwargs["connect_timeout"])
    elif timeout is not None and timeout > 0:
        kwargs["connect_timeout"] = max(1, math.ceil(timeout))
    if "application_name" not in kwargs and "fallback_application_name" not in kwargs:
        kwargs["application_name"] = DEFAULT_APPLICATION_NAME
    return kwargs


def _unknown_option(url: DatabaseURL, key: str) -> ConfigurationError:
    import difflib

    close = difflib.get_close_matches(key, allowed_options(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigurationError(
        f"unknown PostgreSQL URL option {key!r} in {url.render()}{hint} "
        f"(allowed options: {', '.join(allowed_options())})"
    )


def _seconds(url: DatabaseURL, value: Any) -> int:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"URL option connect_timeout={value!r} in {url.render()} is not a number of seconds"
        ) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError(
            f"URL option connect_timeout={value!r} in {url.render()} must be zero (wait forever) or positive"
        )
    return math.ceil(seconds)


def _prepare_threshold(url: DatabaseURL, value: str) -> int | None:
    if value.strip().lower() in {"", "none", "off", "never"}:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(
            f"URL option prepare_threshold={value!r} in {url.render()} must be an integer or 'none' "
            "(never prepare: needed behind PgBouncer in transaction mode)"
        ) from None
