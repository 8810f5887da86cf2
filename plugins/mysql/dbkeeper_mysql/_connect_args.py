"""Turn a ``mysql://`` URL into keyword arguments for ``pymysql.connect``.

Accepted query options (``-`` and ``_`` are interchangeable in names)::

    connect_timeout=5            seconds to establish the connection
    read_timeout=30              seconds to wait for the server's answer (default: no limit)
    write_timeout=30             seconds to wait while sending
    unix_socket=/run/mysqld/mysqld.sock
    ssl-mode=required            disabled | preferred | required | verify_ca | verify_identity
                                 (also ssl_mode, and sslmode with libpq spellings: disable,
                                 prefer, require, verify-ca, verify-full)
    ssl_ca=/path/ca.pem  ssl_cert=/path/client.pem  ssl_key=/path/client-key.pem
    ssl_verify_cert=true  ssl_verify_identity=true

Without any TLS option PyMySQL uses TLS when the server offers it, without
verifying the certificate (MySQL's ``PREFERRED``). Giving a certificate or a
verification flag makes TLS required. Anything else in the query string is
rejected with a :class:`~dbkeeper.errors.ConfigurationError` listing these
options, so a misspelt ``ssl_ca`` cannot silently turn verification off.

The password goes to PyMySQL as an argument (UTF-8 encoded), never inside a
string that could end up in a message.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import ConfigurationError

if TYPE_CHECKING:
    import ssl

    from dbkeeper.urls import DatabaseURL

DEFAULT_CONNECT_TIMEOUT = 10.0
_MAX_TIMEOUT = 31_536_000.0  # PyMySQL's upper bound: one year

#: Option names as users write them, for error messages.
ALLOWED_OPTIONS = (
    "connect_timeout", "read_timeout", "write_timeout", "unix_socket",
    "ssl-mode", "ssl_mode", "sslmode", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity",
)
_CANONICAL = {
    "connect_timeout", "read_timeout", "write_timeout", "unix_socket",
    "ssl_mode", "sslmode", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity",
}

DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY = (
    "disabled", "preferred", "required", "verify_ca", "verify_identity")
_SSL_MODES = {
    "disabled": DISABLED, "disable": DISABLED,
    "preferred": PREFERRED, "prefer": PREFERRED, "allow": PREFERRED,
    "required": REQUIRED, "require": REQUIRED,
    "verify_ca": VERIFY_CA,
    "verify_identity": VERIFY_IDENTITY, "verify_full": VERIFY_IDENTITY,
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class TLSSettings:
    """What the URL asked for about TLS, after applying MySQL's ``ssl-mode`` rules.

    ``mode`` is one of ``disabled``, ``preferred``, ``required``,
    ``verify_ca`` and ``verify_identity``; the file paths are passed to
    :mod:`ssl` as given.
    """

    mode: str = PREFERRED
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify_cert: bool = False
    verify_identity: bool = False

    @property
    def required(self) -> bool:
        """True when the connection must fail rather than run without TLS."""
        return self.mode in (REQUIRED, VERIFY_CA, VERIFY_IDENTITY)


def normalised_options(url: DatabaseURL) -> dict[str, str]:
    """The URL's query options with ``-`` spelt ``_``; unknown names raise ``ConfigurationError``."""
    options: dict[str, str] = {}
    for raw_key, value in url.query:
        key = raw_key.strip().lower().replace("-", "_")
        if key not in _CANONICAL:
            close = difflib.get_close_matches(key, sorted(_CANONICAL), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"unknown option {raw_key!r} in {url.render()}{hint} "
                f"(the mysql dialect accepts: {', '.join(ALLOWED_OPTIONS)})"
            )
        options[key] = value
    return options


def tls_settings(options: dict[str, str]) -> TLSSettings:
    """Resolve the TLS options of a URL into one consistent :class:`TLSSettings`."""
    raw_mode = options.get("ssl_mode", options.get("sslmode"))
    if "ssl_mode" in options and "sslmode" in options and options["ssl_mode"] != options["sslmode"]:
        raise ConfigurationError("the URL sets both ssl-mode and sslmode to different values; keep one")
    ca, cert, key = (options.get(name) or None for name in ("ssl_ca", "ssl_cert", "ssl_key"))
    verify_cert = _flag(options, "ssl_verify_cert")
    verify_identity = _flag(options, "ssl_verify_identity")
    if key and not cert:
        raise ConfigurationError("ssl_key needs ssl_cert (the client certificate it belongs to)")
    given = [name for name in ("ssl_ca", "ssl_cert", "ssl_key") if options.get(name)]
    given += [name for name, flag in (("ssl_verify_cert", verify_cert), ("ssl_verify_identity", verify_identity))
              if flag]
    if raw_mode is None:
        mode = REQUIRED if (ca or cert or verify_cert or verify_identity) else PREFERRED
    else:
        mode = _SSL_MODES.get(raw_mode.strip().lower().replace("-", "_"), "")
        if not mode:
            raise ConfigurationError(
                f"unknown ssl-mode {raw_mode!r}; use one of disabled, preferred, required, verify_ca, "
                "verify_identity"
            )
    if mode == DISABLED:
        if given:
            raise ConfigurationError(f"ssl-mode={raw_mode} contradicts {', '.join(given)}; remove one of them")
        return TLSSettings(mode=DISABLED)
    if mode == PREFERRED:
        if given:
            raise ConfigurationError(
                f"ssl-mode={raw_mode} never verifies certificates, so {', '.join(given)} would be ignored; "
                "use ssl-mode=required, verify_ca or verify_identity"
            )
        return TLSSettings(mode=PREFERRED)
    if mode == VERIFY_IDENTITY:
        if verify_cert is False or verify_identity is False:
            raise ConfigurationError(f"ssl-mode={raw_mode} verifies the certificate and host name; "
                                     "drop ssl_verify_cert/ssl_verify_identity=false")
        verify_cert = verify_identity = True
    elif mode == VERIFY_CA:
        if verify_cert is False:
            raise ConfigurationError(f"ssl-mode={raw_mode} verifies the certificate; drop ssl_verify_cert=false")
        verify_cert = True
    elif verify_cert is None:  # required: verify when a CA was given or identity checks were asked for
        verify_cert = bool(ca) or bool(verify_identity)
    if verify_identity and verify_cert is False:
        raise ConfigurationError("ssl_verify_identity=true needs the certificate verified; "
                                 "drop ssl_verify_cert=false")
    return TLSSettings(mode=mode, ca=ca, cert=cert, key=key, verify_cert=bool(verify_cert),
                       verify_identity=bool(verify_identity))


def tls_context(settings: TLSSettings) -> ssl.SSLContext:
    """An :class:`ssl.SSLContext` for a connection that requires TLS.

    Without ``ca`` the system's trusted certificates are used for
    verification. Host-name checking follows ``verify_identity`` exactly
    (PyMySQL's own ``ssl_*`` arguments skip it when no CA file is given).
    """
    import ssl

    try:
        context = ssl.create_default_context(cafile=settings.ca)
        if settings.cert:
            context.load_cert_chain(settings.cert, keyfile=settings.key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load the TLS files given in the URL (ssl_ca/ssl_cert/ssl_key): {exc}") from None
    # Self-signed certificates generated by MySQL fail Python 3.13's strict X.509 checks.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    context.check_hostname = settings.verify_identity
    context.verify_mode = ssl.CERT_REQUIRED if settings.verify_cert else ssl.CERT_NONE
    return context


def connect_arguments(url: DatabaseURL, *, timeout: float | None,
                      autocommit: bool) -> tuple[dict[str, Any], TLSSettings]:
    """Keyword arguments for ``pymysql.connect`` and the TLS decision, kept apart.

    The caller turns the :class:`TLSSettings` into PyMySQL's ``ssl`` or
    ``ssl_disabled`` argument (building the context reads certificate files,
    so it happens only when a connection is really opened).
    """
    options = normalised_options(url)
    connect_timeout = _seconds(options, "connect_timeout")
    if connect_timeout is None:
        connect_timeout = float(timeout) if timeout else DEFAULT_CONNECT_TIMEOUT
        connect_timeout = min(max(connect_timeout, 0.001), _MAX_TIMEOUT)
    password = url.password
    kwargs: dict[str, Any] = {
        "host": url.host or "localhost",
        "port": url.port or 3306,
        "user": url.username,
        "password": password.encode("utf-8") if password else b"",
        "database": url.database,
        "charset": "utf8mb4",
        "autocommit": autocommit,
        "connect_timeout": connect_timeout,
        "read_timeout": _seconds(options, "read_timeout"),
        "write_timeout": _seconds(options, "write_timeout"),
        "local_infile": False,
    }
    if options.get("unix_socket"):
        kwargs["unix_socket"] = options["unix_socket"]
    return kwargs, tls_settings(options)


def _seconds(options: dict[str, str], name: str) -> float | None:
    raw = options.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= _MAX_TIMEOUT:
        raise ConfigurationError(f"{name}={raw!r} in the URL is not a number of seconds between 0 and {_MAX_TIMEOUT:g}")
    return value


def _flag(options: dict[str, str], name: str) -> bool | None:
    raw = options.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} in the URL is not a boolean; use true or false")
