"""The ``DBManager`` decorators, with the same names and meanings, in any stacking order.

``async_database_safe`` turns a method into an *operation*: it runs only while
the database is RUNNING, holds the instance's lock, sees the open connection
as ``self.db`` and turns an ``Exception`` into the method's fail value. The
markers ``with_fail_value``, ``fail_with_exception`` and ``async_during_init``
configure that behaviour; ``async_timed`` logs how long a call took and
``async_required_argument`` rejects calls that give none of the named
arguments. ``docs/lifecycle.md`` states the exact rules.

Markers record their setting in one :class:`OperationOptions` object shared by
every layer of a decorator stack (``functools.wraps`` copies a function's
``__dict__``, so the object travels up the stack, and a marker applied above
``async_database_safe`` changes the same object the operation reads at call
time). That is why the order of the decorators does not matter.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar

from dbkeeper.lifecycle._log import Log
from dbkeeper.lifecycle.errors import MissingArgumentError

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class RunsOperations(Protocol):
    """What ``@operation`` needs of the object it decorates (``VersionedDatabase`` is the one shipped).

    A protocol rather than an import of :mod:`dbkeeper.lifecycle.database`, which imports this module:
    the decorators sit below the database class they decorate, with no import circle.
    """

    async def _run_operation(self, func: Callable[..., Awaitable[T]], options: OperationOptions,
                             name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> T: ...


S = TypeVar("S", bound=RunsOperations)

#: The fail value of an operation without ``with_fail_value`` (the old DBManager's default).
DEFAULT_FAIL_VALUE: Final = False
#: Attribute holding the :class:`OperationOptions` of a decorated function.
OPTIONS_ATTRIBUTE: Final = "__dbkeeper_operation__"

_fallback_log = Log(logging.getLogger("dbkeeper.lifecycle"))


@dataclass
class OperationOptions:
    """How a decorated method behaves when it fails; shared by every layer of its decorator stack."""

    fail_value: Any = DEFAULT_FAIL_VALUE
    fail_with_exception: bool = False
    during_init: bool = False
    safe: bool = False

    def failure_result(self) -> Any:
        """The fail value to return; mutable containers are copied so callers cannot change the default."""
        value = self.fail_value
        if isinstance(value, list | dict | set | bytearray):
            return value.copy()
        return value


def options_of(func: Callable[..., Any]) -> OperationOptions:
    """The options object of ``func``, created on first use."""
    options = getattr(func, OPTIONS_ATTRIBUTE, None)
    if isinstance(options, OperationOptions):
        return options
    options = OperationOptions()
    try:
        setattr(func, OPTIONS_ATTRIBUTE, options)
    except AttributeError:
        raise TypeError(
            f"dbkeeper lifecycle decorators apply to plain async functions defined in a class body, "
            f"not to {type(func).__name__} objects; put them below @staticmethod/@classmethod if any"
        ) from None
    return options


def _require_coroutine_function(func: Callable[..., Any], decorator: str) -> None:
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"@{decorator} needs an 'async def' method, got {func!r}")


def _log_of(owner: object) -> Log:
    log = getattr(owner, "_log", None)
    return log if isinstance(log, Log) else _fallback_log


def async_database_safe(
    func: Callable[Concatenate[S, P], Awaitable[R]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Run the method as an operation on the open database.

    The call waits while the database is STARTING, then runs holding the
    instance's lock with ``self.db`` available. An ``Exception`` it raises is
    logged and the fail value returned instead (``with_fail_value``, default
    ``False``), unless ``fail_with_exception`` is applied, in which case it is
    re-raised. ``CancelledError``, ``KeyboardInterrupt`` and ``SystemExit``
    always propagate. Calling it on a closed or failed database raises
    :class:`~dbkeeper.lifecycle.errors.DatabaseClosedError` /
    :class:`~dbkeeper.lifecycle.errors.DatabaseFailedError` at once.
    """
    _require_coroutine_function(func, "async_database_safe")
    options = options_of(func)
    options.safe = True
    name = func.__qualname__

    @functools.wraps(func)
    async def operation(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._run_operation(func, options, name, args, kwargs)

    return operation


def async_timed(func: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Log the call's duration at debug level (also when it fails)."""
    _require_coroutine_function(func, "async_timed")
    options_of(func)
    name = func.__qualname__

    @functools.wraps(func)
    async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter()
        try:
            return await func(*args, **kwargs)
        finally:
            log = _log_of(args[0] if args else None)
            if log.debug_enabled():
                log.debug("%s finished in %.3f ms", name, (time.perf_counter() - start) * 1000.0)

    return timed


def async_required_argument(arguments: Iterable[str] | str) -> Callable[[Callable[P, Awaitable[R]]],
                                                                         Callable[P, Coroutine[Any, Any, R]]]:
    """Require at least one of ``arguments`` to be passed with a value other than ``None``.

    Arguments count whether passed by keyword or by position; defaults do not
    count. A call without any of them fails like any operation failure:
    :class:`~dbkeeper.lifecycle.errors.MissingArgumentError` is logged and the
    fail value returned, or raised with ``fail_with_exception`` (and always
    raised when the method is not an ``async_database_safe`` operation).
    Naming an argument the method does not have is a ``TypeError`` at class
    definition time.
    """
    names = (arguments,) if isinstance(arguments, str) else tuple(arguments)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise TypeError(f"async_required_argument() needs a list of argument names, got {arguments!r}")

    def decorator(func: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        _require_coroutine_function(func, "async_required_argument")
        signature = inspect.signature(func)
        parameters = signature.parameters
        var_keyword = next((p.name for p in parameters.values() if p.kind is p.VAR_KEYWORD), None)
        unknown = [n for n in names if n not in parameters]
        if unknown and var_keyword is None:
            raise TypeError(
                f"@async_required_argument on {func.__qualname__} names {unknown}, which it does not accept "
                f"(its parameters: {list(parameters)})"
            )
        options = options_of(func)
        outside_operation = options.safe  # applied above async_database_safe: must honour the fail value itself
        name = func.__qualname__
        wanted = ", ".join(names)

        def given(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
            for key in names:
                if kwargs.get(key) is not None:
                    return True
            if not args[1:]:
                return False
            try:
                bound = signature.bind_partial(*args, **kwargs).arguments
            except TypeError:
                return True  # let the call itself report the bad arguments
            extra = bound.get(var_keyword, {}) if var_keyword else {}
            return any(bound.get(key, extra.get(key)) is not None for key in names)

        @functools.wraps(func)
        async def required(*args: P.args, **kwargs: P.kwargs) -> R:
            if given(args, kwargs):
                return await func(*args, **kwargs)
            error = MissingArgumentError(f"{name} needs at least one of these arguments, not None: {wanted}")
            if not (outside_operation and options.safe) or options.fail_with_exception:
                raise error
            _log_of(args[0] if args else None).error("%s failed", name, exc=error)
            result: R = options.failure_result()
            return result

        return required

    return decorator


def with_fail_value(value: Any) -> Callable[[F], F]:
    """Make ``value`` what the operation returns when it fails (instead of ``False``)."""

    def decorator(func: F) -> F:
        options_of(func).fail_value = value
        return func

    return decorator


def fail_with_exception(func: F) -> F:
    """Re-raise the operation's exception (after logging it) instead of returning the fail value."""
    options_of(func).fail_with_exception = True
    return func


def async_during_init(func: F) -> F:
    """Mark an operation as part of startup (``init_db``, ``migrate_db`` and helpers they call).

    Kept for compatibility: in a ``VersionedDatabase`` every decorated call
    made from inside ``init_db``/``migrate_db`` already runs as part of the
    startup operation, marked or not, and calls from other tasks wait for the
    startup to finish either way.
    """
    options_of(func).during_init = True
    return func
