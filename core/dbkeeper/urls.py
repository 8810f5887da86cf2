"""Parse and render database URLs without ever printing the password.

Accepted forms (see ``docs/connecting.md``)::

    sqlite:///relative/path.db     relative to the working directory
    sqlite:////absolute/path.db    absolute path
    sqlite:///:memory:             in-memory database (also ``sqlite://``)
    postgresql://user:pa%40ss@host:5432/db?sslmode=require&connect_timeout=5
    postgres://...  mysql://...  mariadb://...  (and ``scheme+driver://``)

The parsed :class:`DatabaseURL` keeps the password in a field that ``repr()``
and ``str()`` never show; :meth:`DatabaseURL.render` masks it unless the caller
explicitly asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from dbkeeper.errors import ConfigurationError
from dbkeeper.redaction import MASK

MEMORY = ":memory:"


@dataclass(frozen=True, slots=True)
class DatabaseURL:
    """A database URL split into its parts.

    ``scheme`` is the lower-cased scheme without any ``+driver`` suffix; the
    suffix, if given, is kept in ``driver``. ``database`` is the database name
    for servers and the file path (or ``:memory:``) for SQLite.
    """

    scheme: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    driver: str | None = None

    # -- construction -----------------------------------------------------
    @classmethod
    def parse(cls, url: str | DatabaseURL) -> DatabaseURL:
        """Parse ``url``; raise :class:`ConfigurationError` naming what is wrong."""
        if isinstance(url, DatabaseURL):
            return url
        if not isinstance(url, str) or "://" not in url:
            shown = url if isinstance(url, str) else type(url).__name__
            raise ConfigurationError(
                f"not a database URL: {mask_userinfo(shown)!r}; expected scheme://..., "
                "for example sqlite:///app.db or postgresql://user@host/db"
            )
        raw_scheme, rest = url.split("://", 1)
        if not raw_scheme or not all(c.isalnum() or c in "+-." for c in raw_scheme):
            raise ConfigurationError(f"invalid URL scheme {raw_scheme!r} in {mask_userinfo(url)!r}")
        scheme, _, driver = raw_scheme.lower().partition("+")
        if scheme == "sqlite":
            return cls._parse_sqlite(scheme, rest, driver or None)
        parts = urlsplit(f"{scheme}://{rest}")
        if rest.rfind("@") >= len(parts.netloc):
            raise ConfigurationError(
                f"invalid database URL {mask_userinfo(url)!r}: an '@' after the host part means the user name "
                f"or password holds a character that must be percent-encoded ({_ENCODE_HINT})")
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError(
                f"invalid database URL {mask_userinfo(url)!r}: the port is not a number from 0 to 65535 (a "
                f"password with an unencoded character ends the user-info early: {_ENCODE_HINT})") from None
        database = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        return cls(
            scheme=scheme,
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            host=unquote(parts.hostname) if parts.hostname else None,
            port=port,
            database=database or None,
            query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
            driver=driver or None,
        )

    @classmethod
    def _parse_sqlite(cls, scheme: str, rest: str, driver: str | None) -> DatabaseURL:
        path, _, query = rest.partition("?")
        if path and not path.startswith("/"):
            raise ConfigurationError(
                f"SQLite URLs have no host: use sqlite:///relative.db or sqlite:////abs/path.db, not "
                f"{mask_userinfo(f'sqlite://{path}')}"
            )
        database = unquote(path[1:]) if path else MEMORY
        return cls(
            scheme=scheme,
            database=database or MEMORY,
            query=tuple(parse_qsl(query, keep_blank_values=True)),
            driver=driver,
        )

    # -- accessors --------------------------------------------------------
    @property
    def options(self) -> dict[str, str]:
        """Query options as a dict (last value wins)."""
        return dict(self.query)

    @property
    def is_memory(self) -> bool:
        """True for an in-memory database: ``:memory:`` as the database (any embedded engine), or none for SQLite."""
        return self.database == MEMORY or (self.scheme == "sqlite" and not self.database)

    def with_database(self, database: str) -> DatabaseURL:
        """Return a copy pointing at another database on the same server."""
        return replace(self, database=database)

    def without_password(self) -> DatabaseURL:
        """Return a copy with no password (safe to store in manifests)."""
        return replace(self, password=None)

    # -- rendering --------------------------------------------------------
    def render(self, *, hide_password: bool = True) -> str:
        """Render back to a URL string; the password is masked unless asked for."""
        scheme = f"{self.scheme}+{self.driver}" if self.driver else self.scheme
        query = f"?{urlencode(self.query)}" if self.query else ""
        if self.scheme == "sqlite":
            database = self.database or MEMORY
            return f"{scheme}:///{quote(database, safe='/:')}{query}"
        netloc = ""
        if self.username is not None:
            netloc = quote(self.username, safe="")
            if self.password is not None:
                netloc += ":" + (MASK if hide_password else quote(self.password, safe=""))
            netloc += "@"
        if self.host:
            netloc += f"[{self.host}]" if ":" in self.host else quote(self.host, safe=".")
        if self.port is not None:
            netloc += f":{self.port}"
        path = f"/{quote(self.database, safe='')}" if self.database else ""
        return f"{scheme}://{netloc}{path}{query}"

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"DatabaseURL({self.render()!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython/hypothesis pretty-printing: the masked repr, never the dataclass fields."""
        printer.text(repr(self))

    def to_dict(self) -> dict[str, Any]:
        """Secret-free description, for manifests, JSON output and reports."""
        return {
            "scheme": self.scheme,
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "username": self.username,
            "options": self.options,
        }


_ENCODE_HINT = "write / as %2F, : as %3A, @ as %40, ? as %3F, # as %23 and % as %25"


def mask_userinfo(text: str) -> str:
    """Hide everything between ``://`` and the last ``@`` in text that may be a mistyped URL.

    A password with an unencoded ``/ ? # @ :`` makes Python's URL parser end
    the user-info early, so no parser can be trusted to find where the
    password stops: the last ``@`` is the only safe bound (a few characters
    of the path hidden too are a fair price). Without ``://`` (``postgresql//
    u:pw@h``) everything before the last ``@`` is hidden.
    """
    at = text.rfind("@")
    if at < 0:
        return text
    start = text.find("://")
    if 0 <= start < at:
        return text[:start + 3] + MASK + text[at:]
    return MASK + text[at:]

