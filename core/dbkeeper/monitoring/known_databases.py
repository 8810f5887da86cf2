"""Where a database named only by its connection name can be found again, and how.

The seed API calls ``monitor_database("shop")`` and ``optimize_database("shop")``
with nothing but a name (and a workspace), yet native statistics and plan-based
recommendations need a live connection. So whenever a recorded connection
connects, its URL *without the password* is remembered in the workspace
(``known_databases.json``, 0600, written atomically, once per process for each
name and URL), and :func:`resolve_named_database` finds a URL for a name from,
in order: ``dbkeeper.toml``'s ``[connections.NAME]``, that record, and
``DBKEEPER_URL`` when it names a database called ``NAME``. When none has it,
:func:`how_to_make_known` says exactly what to add.

A recorded URL carries no password: it reaches servers that authenticate
without one in the URL (trust, peer, ``~/.pgpass``, ``PGPASSWORD``,
``~/.my.cnf``, SQLite files). Query options whose name mentions a password,
secret or token are dropped as well.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from dbkeeper.errors import ConfigurationError
from dbkeeper.urls import DatabaseURL

FILE_NAME = "known_databases.json"
_SECRET_OPTION_WORDS = ("pass", "secret", "token")
_written: set[tuple[str, str, str]] = set()
_write_lock = threading.Lock()


def storable_url(url: DatabaseURL) -> DatabaseURL:
    """``url`` with no password and no option that could hold one."""
    query = tuple((k, v) for k, v in url.query if not any(word in k.lower() for word in _SECRET_OPTION_WORDS))
    return DatabaseURL(scheme=url.scheme, driver=url.driver, username=url.username, password=None, host=url.host,
                       port=url.port, database=url.database, query=query)


def _path(workspace: Path) -> Path:
    return workspace / FILE_NAME


def read_known(workspace: Path) -> dict[str, str]:
    """Name -> password-less URL, as recorded in ``workspace`` (empty when nothing was recorded or it is unreadable)."""
    try:
        data = json.loads(_path(workspace).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def remember(workspace_dir: str | os.PathLike[str] | None, name: str, url: DatabaseURL) -> None:
    """Record ``name`` -> ``url`` (password removed) in the workspace; a no-op once done in this process.

    Never raises: a workspace that cannot be written must not stop an
    application from connecting (monitoring then asks for a config entry).
    """
    if url.is_memory:
        return  # an in-memory database cannot be reached from anywhere else
    text = storable_url(url).render(hide_password=False)
    from dbkeeper.workspace import ENV_VAR, resolve_workspace

    # keyed on what selects the workspace, so a reconnect costs a set lookup, not a path resolution
    key = (f"{workspace_dir!s}|{os.environ.get(ENV_VAR, '')}", name, text)
    if key in _written:
        return
    try:
        workspace = resolve_workspace(workspace_dir)
        with _write_lock:
            known = read_known(workspace)
            if known.get(name) != text:
                known[name] = text
                _write(workspace, known)
            _written.add(key)
    except OSError:
        return


def _write(workspace: Path, known: dict[str, str]) -> None:
    target = _path(workspace)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(known, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def resolve_named_database(name: str, workspace_dir: str | os.PathLike[str] | None = None
                           ) -> tuple[DatabaseURL, str] | None:
    """``(url, where it came from)`` for the database called ``name``, or ``None`` when nothing knows it.

    Looks in ``dbkeeper.toml`` (``[connections.NAME]``), then the URL
    recorded in ``workspace_dir`` (and in the default workspace, where an
    application's connections record theirs), then ``DBKEEPER_URL`` when
    its database is called ``name``. A config entry that exists but is
    broken (an unset ``${VAR}``) raises its :class:`ConfigurationError`.
    """
    from dbkeeper.config import URL_ENV, default_connection_name, load_config

    config = load_config()
    if name in config.connections:
        return config.connections[name].url, f"[connections.{name}] in {config.source}"
    from dbkeeper.workspace import resolve_workspace

    workspaces = [resolve_workspace(workspace_dir)]
    default = resolve_workspace(None)
    if default not in workspaces:
        workspaces.append(default)
    for workspace in workspaces:
        recorded = read_known(workspace).get(name)
        if recorded is not None:
            try:
                return DatabaseURL.parse(recorded), f"the URL recorded for {name!r} in {_path(workspace)}"
            except ConfigurationError:
                continue
    env = os.environ.get(URL_ENV)
    if env:
        url = DatabaseURL.parse(env)
        if default_connection_name(url) == name:
            return url, URL_ENV
    return None


def how_to_make_known(name: str) -> str:
    """The sentence that says what to add so ``name`` can be found."""
    return (f"no database known as {name!r}: add [connections.{name}] with url = \"...\" to dbkeeper.toml, "
            f"set DBKEEPER_URL to its URL (a database called {name!r}), connect to it once through dbkeeper "
            f"under that name (its URL, without the password, is then recorded in the workspace), or pass "
            "connection=...")

