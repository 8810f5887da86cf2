"""Find, load and keep track of plugins; look up dialects by name or URL scheme.

Loading happens lazily, on the first question about dialects, commands or
plugins. Each entry point in the group ``dbkeeper`` is imported on its own:
one that fails to import or to register is recorded with its error and
skipped, so the others keep working (``DBKEEPER_STRICT_PLUGINS=1`` turns such a
failure into an exception). ``DBKEEPER_DISABLE_PLUGINS=a,b`` skips plugins by
entry-point or distribution name.

dbkeeper's own dialect plugins (an entry point named as in
:data:`KNOWN_SCHEMES`, from the distribution ``dbkeeper-<name>``) are imported
only when their scheme is asked for: ``dbkeeper backup restore`` of a
PostgreSQL backup imports neither the MySQL plugin nor PyMySQL. The entry
point's name says which schemes it serves, so nothing is imported to find
out; a scheme no known plugin claims loads everything. Every other plugin
(a third party's: it may implement any hook, ``dbkeeper_connect`` included)
is imported at the first question, as before. Whole listings (``plugins()``,
``dialects()``, commands, advisor rules, lifecycle adapters) load them all.
Conflicts are settled as if every plugin had loaded in name order: of two
plugins registering one dialect name or URL scheme, the one whose name sorts
first keeps it and the other is marked failed, whichever was imported first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from dbkeeper.contract import hookspecs
from dbkeeper.contract.dialect import Dialect
from dbkeeper.contract.hookspecs import hookimpl
from dbkeeper.errors import PluginError, UnsupportedDatabaseError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    import click

    from dbkeeper.contract.dialect import DBAPIConnection
    from dbkeeper.urls import DatabaseURL

ENTRY_POINT_GROUP = "dbkeeper"
STRICT_ENV = "DBKEEPER_STRICT_PLUGINS"
DISABLE_ENV = "DBKEEPER_DISABLE_PLUGINS"

__all__ = ["ENTRY_POINT_GROUP", "KNOWN_SCHEMES", "PluginInfo", "PluginRegistry", "get_registry", "hookimpl",
           "set_registry"]

#: The install-hint table: URL schemes whose dialect ships as one of dbkeeper's extras. The only place the
#: core names dialects (``tests/test_core_contract.py`` keeps it so).
KNOWN_SCHEMES: dict[str, str] = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
}


@dataclass
class PluginInfo:
    """What ``dbkeeper plugins`` reports about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    status: str  # "loaded", "failed" or "disabled"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    dialects: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hooks": self.hooks,
            "dialects": self.dialects,
        }


class PluginRegistry:
    """The plugin manager plus the dialects plugins registered.

    ``entry_points`` overrides discovery (tests pass their own list);
    ``extra_plugins`` registers module or object plugins directly, as if they
    came from entry points.
    """

    def __init__(self, *, entry_points: Iterable[EntryPoint] | None = None,
                 extra_plugins: Iterable[tuple[str, object]] = (),
                 strict: bool | None = None, disabled: Iterable[str] | None = None) -> None:
        self._entry_points = list(entry_points) if entry_points is not None else None
        self._extra_plugins = list(extra_plugins)
        self._strict = strict
        self._disabled = set(disabled) if disabled is not None else None
        self._lock = threading.RLock()
        self._pm: pluggy.PluginManager | None = None
        self._infos: dict[str, PluginInfo] = {}
        self._dialects: dict[str, Dialect] = {}
        self._schemes: dict[str, Dialect] = {}
        self._dialect_owner: dict[str, str] = {}
        self._by_dialect: dict[str, dict[str, type[Any]]] = {}
        #: Plugin name -> its place in name order (entry points sorted, then ``extra_plugins``): who wins a conflict.
        self._order: dict[str, int] = {}
        #: dbkeeper's own dialect plugins not imported yet: name -> loader.
        self._deferred: dict[str, Callable[[], object]] = {}

    # -- loading ----------------------------------------------------------------
    @property
    def pm(self) -> pluggy.PluginManager:
        """The pluggy manager with every plugin loaded (loads them on first use)."""
        pm = self._started()
        if self._deferred:
            with self._lock:
                self._load_deferred(list(self._deferred))
        return pm

    @property
    def hook(self) -> Any:
        """Shortcut for ``pm.hook``."""
        return self.pm.hook

    def _strict_mode(self) -> bool:
        if self._strict is not None:
            return self._strict
        return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}

    def _disabled_names(self) -> set[str]:
        if self._disabled is not None:
            return self._disabled
        raw = os.environ.get(DISABLE_ENV, "")
        return {part.strip() for part in raw.split(",") if part.strip()}

    def _started(self) -> pluggy.PluginManager:
        """The manager with every plugin but the deferred ones loaded (see the module doc)."""
        if self._pm is None:
            with self._lock:
                if self._pm is None:
                    self._start()
        assert self._pm is not None
        return self._pm

    def _start(self) -> None:
        pm = pluggy.PluginManager("dbkeeper")
        pm.add_hookspecs(hookspecs)
        disabled = self._disabled_names()
        eps = self._entry_points
        if eps is None:
            from importlib.metadata import entry_points

            eps = list(entry_points(group=ENTRY_POINT_GROUP))
        candidates: list[tuple[str, str | None, str | None, Callable[[], object]]] = []
        for ep in sorted(eps, key=lambda e: e.name):
            dist = ep.dist
            candidates.append((ep.name, dist.name if dist else None, dist.version if dist else None, ep.load))
        for name, plugin in self._extra_plugins:
            candidates.append((name, None, None, _constant(plugin)))
        now: list[str] = []
        for name, dist_name, version, loader in candidates:
            info = PluginInfo(name=name, distribution=dist_name, version=version, status="loaded")
            self._infos[name] = info
            self._order.setdefault(name, len(self._order))
            if name in disabled or (dist_name and dist_name in disabled):
                info.status = "disabled"
            elif _deferrable(name, dist_name):
                self._deferred[name] = loader
            else:
                self._import(pm, info, loader)
                now.append(name)
        self._pm = pm  # set first: a deferred plugin's conflicts (_evict_later_claims) need it
        try:
            self._register_dialects(pm, now)
        except BaseException:  # strict mode: the next question starts again, as before
            self._pm = None
            for state in (self._infos, self._dialects, self._schemes, self._dialect_owner, self._order,
                          self._deferred):
                state.clear()
            raise

    def _import(self, pm: pluggy.PluginManager, info: PluginInfo, loader: Callable[[], object]) -> None:
        try:
            plugin = loader()
            pm.register(plugin, name=info.name)
            pm.check_pending()
        except Exception as exc:  # one broken plugin must not take the others down
            self._fail(pm, info, exc, during="load")
            return
        info.hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))

    def _load_deferred(self, names: Iterable[str]) -> None:
        """Import the deferred plugins ``names`` (those still deferred) and register their dialects."""
        pm = self._started()
        todo = sorted((n for n in set(names) if n in self._deferred), key=self._order.__getitem__)
        for name in todo:
            self._import(pm, self._infos[name], self._deferred.pop(name))
        if todo:
            self._by_dialect.clear()  # collected from fewer plugins; collect again
            self._register_dialects(pm, todo)

    def _load_for(self, name: str) -> None:
        """Import the deferred plugin that serves scheme (or dialect name) ``name``, if there is one."""
        if self._deferred:
            extra = KNOWN_SCHEMES.get(name)
            if extra is not None and extra in self._deferred:
                with self._lock:
                    self._load_deferred([extra])

    def _impls(self, pm: pluggy.PluginManager, hook_name: str) -> list[Any]:
        """The implementations of ``hook_name`` in name order (the order plugins would all have loaded in)."""
        impls = getattr(pm.hook, hook_name).get_hookimpls()
        return sorted(impls, key=lambda i: self._order.get(i.plugin_name, len(self._order)))

    def _register_dialects(self, pm: pluggy.PluginManager, names: list[str]) -> None:
        wanted = set(names)
        for impl in self._impls(pm, "dbkeeper_register_dialects"):
            if impl.plugin_name not in wanted:
                continue
            info = self._infos.get(impl.plugin_name)
            if info is None or info.status != "loaded":
                continue
            registered: list[str] = []

            def register(cls: type[Dialect], _owner: str = impl.plugin_name, _seen: list[str] = registered) -> None:
                self._add_dialect(cls, _owner)
                _seen.append(cls.name)

            try:
                impl.function(register=register)
            except Exception as exc:
                for dialect_name in registered:
                    self._remove_dialect(dialect_name)
                self._fail(pm, info, exc, during="register_dialects")
                continue
            info.dialects = [
                {"name": d, "schemes": list(self._dialects[d].schemes),
                 "capabilities": self._dialects[d].capabilities.to_dict()}
                for d in registered
            ]

    def _add_dialect(self, cls: type[Dialect], owner: str) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Dialect)):
            raise PluginError(f"plugin {owner!r} registered {cls!r}, which is not a dbkeeper.Dialect subclass")
        if not cls.name or not cls.schemes:
            raise PluginError(f"plugin {owner!r} registered {cls.__name__} without a name or URL schemes")
        self._evict_later_claims(cls, owner)
        if cls.name in self._dialects:
            raise PluginError(
                f"plugin {owner!r} registers dialect {cls.name!r}, which plugin "
                f"{self._dialect_owner[cls.name]!r} already registered; disable one of them with "
                f"{DISABLE_ENV}"
            )
        for scheme in cls.schemes:
            if scheme in self._schemes:
                raise PluginError(
                    f"plugin {owner!r} registers URL scheme {scheme!r}, already handled by dialect "
                    f"{self._schemes[scheme].name!r}"
                )
        dialect = cls()
        self._dialects[cls.name] = dialect
        self._dialect_owner[cls.name] = owner
        for scheme in cls.schemes:
            self._schemes[scheme] = dialect

    def _remove_dialect(self, name: str) -> None:
        dialect = self._dialects.pop(name, None)
        self._dialect_owner.pop(name, None)
        if dialect is not None:
            for scheme in dialect.schemes:
                self._schemes.pop(scheme, None)

    def _evict_later_claims(self, cls: type[Dialect], owner: str) -> None:
        """A plugin imported late (deferred) still wins a conflict against one after it in name order.

        Had all loaded in name order, the later plugin would have been the one
        to fail; it is marked failed with the error it would have got, and
        what it registered is dropped.
        """
        rank = self._order.get(owner, len(self._order))
        claims = [(True, cls.name)] + [(False, scheme) for scheme in cls.schemes]
        for is_name, claimed in claims:
            holder = self._dialects.get(claimed) if is_name else self._schemes.get(claimed)
            if holder is None:
                continue
            other = self._dialect_owner.get(holder.name, "")
            if other == owner or self._order.get(other, -1) <= rank:
                continue
            if is_name:
                error = PluginError(f"plugin {other!r} registers dialect {cls.name!r}, which plugin {owner!r} "
                                    f"already registered; disable one of them with {DISABLE_ENV}")
            else:
                error = PluginError(f"plugin {other!r} registers URL scheme {claimed!r}, already handled by "
                                    f"dialect {cls.name!r}")
            for name, dialect_owner in list(self._dialect_owner.items()):
                if dialect_owner == other:
                    self._remove_dialect(name)
            info = self._infos[other]
            info.dialects = []
            assert self._pm is not None
            self._fail(self._pm, info, error, during="register_dialects")

    def _fail(self, pm: pluggy.PluginManager, info: PluginInfo, exc: Exception, *, during: str) -> None:
        info.status = "failed"
        info.error = f"{type(exc).__name__}: {exc}"
        plugin = pm.get_plugin(info.name)
        if plugin is not None:
            pm.unregister(plugin)
        if self._strict_mode():
            version = f" {info.version}" if info.version else ""
            raise PluginError(
                f"failed to load plugin {info.name!r} ({info.distribution or 'no distribution'}{version}) "
                f"during {during}: {info.error}. Check that it is compatible with this dbkeeper, or "
                f"disable it with {DISABLE_ENV}={info.name}"
            ) from exc

    # -- questions ----------------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        """Every discovered plugin with its status, in name order."""
        self.pm  # noqa: B018 - triggers loading
        return [self._infos[name] for name in sorted(self._infos)]

    def dialects(self) -> dict[str, Dialect]:
        """Registered dialects by name."""
        self.pm  # noqa: B018
        return dict(self._dialects)

    def get_dialect(self, name: str) -> Dialect:
        """The dialect registered as ``name``, or by a URL scheme ``name``."""
        self._started()
        self._load_for(name)
        dialect = self._dialects.get(name) or self._schemes.get(name)
        if dialect is None:
            self.pm  # noqa: B018 - a scheme no known plugin claims: load them all, then look again
            dialect = self._dialects.get(name) or self._schemes.get(name)
        if dialect is None:
            raise self._unknown(name, what="dialect")
        return dialect

    def dialect_for_url(self, url: DatabaseURL) -> Dialect:
        """The dialect serving ``url``'s scheme; a clear error names the extra to install."""
        self._started()
        self._load_for(url.scheme)
        dialect = self._schemes.get(url.scheme)
        if dialect is None:
            self.pm  # noqa: B018 - as in get_dialect
            dialect = self._schemes.get(url.scheme)
        if dialect is None:
            raise self._unknown(url.scheme, what="database scheme")
        return dialect

    def _unknown(self, scheme: str, *, what: str) -> UnsupportedDatabaseError:
        installed = ", ".join(sorted(self._dialects)) or "none"
        extra = KNOWN_SCHEMES.get(scheme)
        if extra is not None:
            failed = [i for i in self._infos.values() if i.status == "failed" and extra in i.name]
            if failed:
                return UnsupportedDatabaseError(
                    f"the {extra} plugin is installed but failed to load ({failed[0].error}); "
                    "run `dbkeeper plugins` for details"
                )
            return UnsupportedDatabaseError(
                f"no dialect handles {what} {scheme!r}; install it with: pip install \"dbkeeper[{extra}]\" "
                f"(installed dialects: {installed})"
            )
        import difflib

        known = sorted(set(self._schemes) | set(KNOWN_SCHEMES))
        close = difflib.get_close_matches(scheme, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return UnsupportedDatabaseError(
            f"unknown {what} {scheme!r}{hint} (installed dialects: {installed})"
        )

    def connect(self, dialect: Dialect, url: DatabaseURL, *, timeout: float | None,
                autocommit: bool = True) -> DBAPIConnection:
        """One DBAPI connection: a plugin's ``dbkeeper_connect`` when one answers, else ``dialect.connect``.

        Deferred plugins stay deferred: dbkeeper's own dialect plugins do not
        implement this hook, and every other plugin is loaded already.
        """
        raw = self._started().hook.dbkeeper_connect(dialect=dialect, url=url,
                                         options={"timeout": timeout, "autocommit": autocommit})
        if raw is None:
            raw = dialect.connect(url, timeout=timeout, autocommit=autocommit)
        return raw

    def advisor_rules(self, dialect_name: str) -> type[Any] | None:
        """The advisor rules class registered for ``dialect_name``, or ``None`` (the generic rules apply)."""
        return self._registered("dbkeeper_register_advisor_rules").get(dialect_name)

    def lifecycle_adapter(self, dialect_name: str) -> type[Any] | None:
        """The lifecycle adapter class registered for ``dialect_name``, or ``None``."""
        return self._registered("dbkeeper_register_lifecycle_adapters").get(dialect_name)

    def _registered(self, hook_name: str) -> dict[str, type[Any]]:
        """Classes registered through ``hook_name``, by the dialect name they serve; collected once.

        Like dialects: a plugin that raises, or registers a second class for
        a dialect, is marked failed and what it registered is dropped.
        """
        found = self._by_dialect.get(hook_name)
        if found is not None:
            return found
        with self._lock:
            found = self._by_dialect.get(hook_name)
            if found is not None:
                return found
            pm = self.pm
            found = {}
            for impl in self._impls(pm, hook_name):
                info = self._infos.get(impl.plugin_name)
                if info is None or info.status != "loaded":
                    continue
                mine: dict[str, type[Any]] = {}

                def register(cls: type[Any], _mine: dict[str, type[Any]] = mine, _owner: str = impl.plugin_name,
                             _found: dict[str, type[Any]] = found) -> None:
                    served = getattr(cls, "dialect_name", None)
                    if not isinstance(served, str) or not served:
                        raise PluginError(f"plugin {_owner!r} registered {cls!r} without a 'dialect_name'")
                    if served in _found or served in _mine:
                        raise PluginError(f"plugin {_owner!r} registers a second {hook_name[18:]} class for "
                                          f"dialect {served!r}")
                    _mine[served] = cls

                try:
                    impl.function(register=register)
                except Exception as exc:  # one broken plugin must not take the others down
                    self._fail(pm, info, exc, during=hook_name[9:])
                    continue
                found.update(mine)
            self._by_dialect[hook_name] = found
            return found

    def register_commands(self, cli: click.Group) -> None:
        """Let every loaded plugin add its CLI commands; a failing plugin is recorded, not fatal."""
        pm = self.pm
        for impl in self._impls(pm, "dbkeeper_register_commands"):
            info = self._infos.get(impl.plugin_name)
            try:
                impl.function(cli=cli)
            except Exception as exc:
                if info is None:
                    raise
                self._fail(pm, info, exc, during="register_commands")


def _deferrable(name: str, distribution: str | None) -> bool:
    """Whether an entry point is one of dbkeeper's own dialect plugins, imported only for its schemes.

    Its name must be one :data:`KNOWN_SCHEMES` maps to and its distribution
    ``dbkeeper-<name>``: those plugins implement only registration hooks,
    so leaving one out until its scheme is asked for changes nothing else.
    """
    return name in KNOWN_SCHEMES.values() and distribution == f"dbkeeper-{name}"


def _constant(value: object) -> Callable[[], object]:
    """A loader for a plugin object that is already imported."""
    return lambda: value


_registry: PluginRegistry | None = None
_registry_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry (created on first use)."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = PluginRegistry()
    return _registry


def set_registry(registry: PluginRegistry | None) -> PluginRegistry | None:
    """Replace the process-wide registry (tests); return the previous one."""
    global _registry
    with _registry_lock:
        previous, _registry = _registry, registry
    return previous
