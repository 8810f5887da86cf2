"""Named connections from ``dbkeeper.toml`` or ``[tool.dbkeeper]`` in ``pyproject.toml``.

A config file lets people write ``--db prod`` instead of a URL, and keeps
passwords out of files through ``${ENV_VAR}`` interpolation::

    default = "app"

    [connections.app]
    url = "postgresql://app:${APP_DB_PASSWORD}@db.internal/app"
    pool_size = 10

    [connections.local]
    url = "sqlite:///var/app.db"

Lookup: ``DBKEEPER_CONFIG`` (a path), else the first ``dbkeeper.toml`` or
``pyproject.toml`` with a ``[tool.dbkeeper]`` table found from the working
directory upwards. ``DBKEEPER_URL`` names the default connection when set.
``${NAME}`` fails clearly when ``NAME`` is unset (only for the connection
that uses it); ``${NAME:-fallback}`` uses the fallback; ``$$`` is a literal
dollar sign. A value that lands in a URL's user-info is percent-encoded
(:func:`interpolate_url`), so a password with ``@ : / % ? #`` still reaches
the right host; ``password = "${NAME}"`` next to ``url`` works too.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dbkeeper.errors import ConfigurationError
from dbkeeper.urls import DatabaseURL, mask_userinfo

CONFIG_ENV = "DBKEEPER_CONFIG"
URL_ENV = "DBKEEPER_URL"
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

#: Keys of a connection table that configure the pool rather than the URL.
POOL_KEYS = frozenset(
    {"pool_size", "max_overflow", "pool_timeout", "pool_recycle", "pre_ping", "connection_timeout", "max_retries"}
)


@dataclass(frozen=True)
class NamedConnection:
    """One ``[connections.NAME]`` entry: its URL and pool options."""

    name: str
    url: DatabaseURL = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"NamedConnection(name={self.name!r}, url={self.url.render()!r})"


class LazyConnections(Mapping[str, NamedConnection]):
    """Named connections, interpolated one at a time when asked for.

    An unset ``${VAR}`` in one connection then only breaks that connection,
    not every ``--db NAME`` lookup. Structure (keys, types) is checked
    up front by :func:`parse_config`.
    """

    def __init__(self, entries: Mapping[str, Mapping[str, Any]], *, where: str,
                 environ: Mapping[str, str] | None) -> None:
        self._entries = dict(entries)
        self._where = where
        self._environ = environ
        self._built: dict[str, NamedConnection] = {}

    def __getitem__(self, name: str) -> NamedConnection:
        if name not in self._built:
            self._built[name] = _build_connection(name, self._entries[name], where=self._where,
                                                  environ=self._environ)
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        # Mapping's default builds the entry: an unset ${VAR} in the default connection then broke every lookup.
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"LazyConnections({sorted(self._entries)!r})"


@dataclass(frozen=True)
class Config:
    """The parsed configuration: named connections and which one is the default."""

    connections: Mapping[str, NamedConnection] = field(default_factory=dict)
    default: str | None = None
    source: Path | None = None

    def get(self, name: str) -> NamedConnection:
        """Return the named connection or raise an error that lists the known names."""
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.connections)) or "none"
            where = f" in {self.source}" if self.source else " (no config file found)"
            shown = mask_userinfo(name)
            raise ConfigurationError(
                f"unknown connection name {shown!r}{where}; known connections: {known}. "
                "Pass a URL such as sqlite:///app.db or add [connections."
                f"{shown}] to dbkeeper.toml"
            ) from None


def interpolate(value: str, *, environ: Mapping[str, str] | None = None, where: str = "config") -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``$$`` in ``value``."""
    env = os.environ if environ is None else environ
    return _INTERPOLATION.sub(lambda match: _expand(match, env, where), value)


def interpolate_url(template: str, *, environ: Mapping[str, str] | None = None, where: str = "config") -> str:
    """:func:`interpolate` for a URL: values that land in its user-info are percent-encoded.

    ``postgresql://app:${PW}@db/app`` with ``PW='p@ss/w:rd'`` must reach
    ``db``, not a host named after the password's tail, so a value between
    ``://`` and the ``@`` before the host is encoded (``quote(value,
    safe="")``); the user writes the plain password in the variable. Values
    anywhere else (a whole URL in ``${DATABASE_URL}``, a host, a database)
    are pasted as they are.
    """
    env = os.environ if environ is None else environ
    userinfo = _userinfo_span(template)
    return _INTERPOLATION.sub(
        lambda match: _expand(match, env, where, encode=userinfo[0] <= match.start() < userinfo[1]), template)


def _userinfo_span(template: str) -> tuple[int, int]:
    """Where the user-info of a URL template is: ``(start, end)`` offsets, empty when it has none.

    Placeholders are blanked first, so a ``/`` or ``@`` in a fallback
    (``${PW:-a@b}``) does not move the bounds.
    """
    skeleton = _INTERPOLATION.sub(lambda match: "x" * len(match.group(0)), template)
    start = skeleton.find("://")
    if start < 0:
        return 0, 0
    start += 3
    end = len(skeleton)
    for delimiter in "/?#":
        position = skeleton.find(delimiter, start)
        if position >= 0:
            end = min(end, position)
    at = skeleton.rfind("@", start, end)
    return (start, at) if at >= 0 else (0, 0)


def _expand(match: re.Match[str], env: Mapping[str, str], where: str, *, encode: bool = False) -> str:
    if match.group(0) == "$$":
        return "$"
    name, fallback = match.group(1), match.group(2)
    if name in env:
        value = env[name]
    elif fallback is not None:
        value = fallback
    else:
        raise ConfigurationError(
            f"{where} refers to ${{{name}}} but the environment variable {name} is not set; "
            f"export it or write ${{{name}:-default}}"
        )
    return quote(value, safe="") if encode else value


def find_config_file(start: Path | None = None) -> Path | None:
    """Return the config file to use, or ``None`` when there is none."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"{CONFIG_ENV} points to {path}, which is not a file")
        return path
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "dbkeeper.toml"
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        return "dbkeeper" in _read_toml(pyproject).get("tool", {})
    except ConfigurationError:
        return False


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc}") from None


def load_config(path: Path | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config file (found automatically when ``path`` is None)."""
    path = path or find_config_file()
    if path is None:
        return Config()
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("dbkeeper", {})
    return parse_config(data, source=path, environ=environ)


def parse_config(data: Mapping[str, Any], *, source: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> Config:
    """Build a :class:`Config` from already-parsed TOML data."""
    where = str(source) if source else "config"
    raw_connections = data.get("connections", {})
    if not isinstance(raw_connections, Mapping):
        raise ConfigurationError(f"{where}: 'connections' must be a table of named connections")
    entries = {name: _check_connection(name, entry, where=where) for name, entry in raw_connections.items()}
    connections = LazyConnections(entries, where=where, environ=environ)
    default = data.get("default")
    if default is not None and default not in connections:
        raise ConfigurationError(f"{where}: default connection {default!r} is not defined under [connections]")
    if default is None and len(connections) == 1:
        default = next(iter(connections))
    return Config(connections=connections, default=default, source=source)


_URL_KEYS = frozenset({"url", "dialect", "user", "username", "password", "host", "port", "database"})
#: Keys that may stand next to ``url``: they replace the URL's user name or password (``password =
#: "${DB_PASSWORD}"`` keeps the secret out of the URL, unencoded).
_CREDENTIAL_KEYS = frozenset({"user", "username", "password"})


def _check_connection(name: str, entry: Any, *, where: str) -> Mapping[str, Any]:
    """Validate the shape of one ``[connections.NAME]`` entry (before interpolation)."""
    label = f"{where} [connections.{name}]"
    if isinstance(entry, str):
        entry = {"url": entry}
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{label} must be a URL string or a table")
    unknown = set(entry) - POOL_KEYS - _URL_KEYS
    if unknown:
        raise ConfigurationError(f"{label}: unknown keys {sorted(unknown)}; allowed: url, dialect, user, "
                                 f"password, host, port, database, {', '.join(sorted(POOL_KEYS))}")
    beside_url = sorted(set(entry) & (_URL_KEYS - _CREDENTIAL_KEYS - {"url"})) if "url" in entry else []
    if beside_url:
        raise ConfigurationError(f"{label}: {', '.join(beside_url)} cannot stand next to url (the URL says it); "
                                 "only user and password may, and they replace the URL's")
    port = entry.get("port")
    if port is not None and not isinstance(port, int) and not (isinstance(port, str) and "${" in port):
        try:
            int(port)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{label}: port must be a number, got {port!r}") from None
    return entry


def _build_connection(name: str, entry: Mapping[str, Any], *, where: str,
                      environ: Mapping[str, str] | None) -> NamedConnection:
    """Interpolate ``${VAR}`` in one checked entry and build its URL."""
    label = f"{where} [connections.{name}]"
    values = {k: interpolate(v, environ=environ, where=label) if isinstance(v, str) and k != "url" else v
              for k, v in entry.items()}
    if "url" in values:
        raw = entry["url"]
        url = DatabaseURL.parse(interpolate_url(raw, environ=environ, where=label) if isinstance(raw, str) else raw)
        credentials = {k: values[k] for k in _CREDENTIAL_KEYS & set(values)}
        if "password" in credentials:
            url = replace(url, password=str(credentials["password"]))
        if "user" in credentials or "username" in credentials:
            url = replace(url, username=str(credentials.get("user") or credentials.get("username")))
    else:
        url = url_from_parts(values, where=label)
    options = {k: v for k, v in values.items() if k in POOL_KEYS}
    return NamedConnection(name=name, url=url, options=options)


def url_from_parts(parts: Mapping[str, Any], *, where: str = "configuration",
                   default_dialect: str = "postgresql") -> DatabaseURL:
    """Build a URL from ``{"dialect", "user", "password", "host", "port", "database"}``.

    This is the compatibility path for code that configures connections with a
    dict (``DatabaseManager(db_config)``); the dialect defaults to PostgreSQL
    because that is what such configs assume.
    """
    scheme = str(parts.get("dialect") or default_dialect).lower()
    port = parts.get("port")
    try:
        port_number = int(port) if port not in (None, "") else None
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where}: port must be a number, got {port!r}") from None
    database = parts.get("database")
    if scheme == "sqlite":
        return DatabaseURL(scheme="sqlite", database=str(database) if database else ":memory:")
    return DatabaseURL(
        scheme=scheme,
        username=parts.get("user") or parts.get("username"),
        password=None if parts.get("password") is None else str(parts.get("password")),
        host=parts.get("host"),
        port=port_number,
        database=str(database) if database is not None else None,
    )


def resolve_database(value: str | None, *, config: Config | None = None) -> tuple[str, DatabaseURL, Mapping[str, Any]]:
    """Turn ``--db`` (a URL, a connection name or nothing) into ``(name, url, options)``.

    Falls back to ``DBKEEPER_URL``, then to the config's default connection,
    and raises :class:`ConfigurationError` when none of them is set.
    """
    if value is None:
        value = os.environ.get(URL_ENV) or None
    if value is not None and "://" in value:
        url = DatabaseURL.parse(value)
        return default_connection_name(url), url, {}
    cfg = config if config is not None else load_config()
    if value is None:
        if cfg.default is None:
            raise ConfigurationError(
                "no database given: pass --db URL_OR_NAME, set DBKEEPER_URL, or set default = \"NAME\" "
                "in dbkeeper.toml"
            )
        value = cfg.default
    named = cfg.get(value)
    return named.name, named.url, named.options


def default_connection_name(url: DatabaseURL) -> str:
    """The name a URL is known by when no dialect is asked (monitoring, catalogs).

    :class:`~dbkeeper.engine.connection.DatabaseConnection` asks the URL's dialect
    (:meth:`dbkeeper.contract.dialect.Dialect.connection_name`); this is the rule
    without one: ``memory`` for an in-memory database, the file name without
    its extension for a host-less URL naming a file (an embedded database:
    a path, or a name with an extension), else the database, host or scheme.
    """
    if url.is_memory:
        return "memory"
    database = url.database
    if database and url.host is None and url.port is None and ("/" in database or Path(database).suffix):
        return Path(database).stem or "memory"
    return database or url.host or url.scheme
