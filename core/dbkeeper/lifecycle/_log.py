"""Log through a standard ``logging.Logger`` or any object with the same four methods.

Applications coming from the old ``DBManager`` pass their own logger (for
example ``smdb_logger.Logger``), which takes one preformatted message per
call; standard loggers get lazy ``%``-formatting and real tracebacks. Keeping
the difference here lets the hot path skip formatting entirely when debug
logging is off.
"""

from __future__ import annotations

import logging
from typing import Protocol


class LoggerLike(Protocol):
    """What the lifecycle needs from a logger: four levels taking one message."""

    def debug(self, msg: str, /) -> None: ...
    def info(self, msg: str, /) -> None: ...
    def warning(self, msg: str, /) -> None: ...
    def error(self, msg: str, /) -> None: ...


class Log:
    """A thin front for a :class:`LoggerLike`, cheap when a level is disabled."""

    __slots__ = ("_logger", "_std")

    def __init__(self, logger: LoggerLike | logging.Logger) -> None:
        self._logger = logger
        self._std = isinstance(logger, logging.Logger)

    @property
    def logger(self) -> LoggerLike | logging.Logger:
        """The wrapped logger."""
        return self._logger

    def debug_enabled(self) -> bool:
        """False when debug messages would be dropped (only knowable for standard loggers)."""
        if isinstance(self._logger, logging.Logger):
            return self._logger.isEnabledFor(logging.DEBUG)
        return True

    def debug(self, msg: str, *args: object) -> None:
        """Log at debug level; ``args`` are ``%``-formatted only when the message is emitted."""
        if isinstance(self._logger, logging.Logger):
            if self._logger.isEnabledFor(logging.DEBUG):
                self._logger.debug(msg, *args)
        else:
            self._logger.debug(msg % args if args else msg)

    def info(self, msg: str, *args: object) -> None:
        """Log at info level."""
        if isinstance(self._logger, logging.Logger):
            self._logger.info(msg, *args)
        else:
            self._logger.info(msg % args if args else msg)

    def warning(self, msg: str, *args: object) -> None:
        """Log at warning level."""
        if isinstance(self._logger, logging.Logger):
            self._logger.warning(msg, *args)
        else:
            self._logger.warning(msg % args if args else msg)

    def error(self, msg: str, *args: object, exc: BaseException | None = None) -> None:
        """Log at error level; ``exc`` adds the traceback (standard loggers) or its repr."""
        if isinstance(self._logger, logging.Logger):
            self._logger.error(msg, *args, exc_info=exc)
            return
        text = msg % args if args else msg
        self._logger.error(f"{text}: {exc!r}" if exc is not None else text)


def default_logger(owner: type) -> logging.Logger:
    """The logger used when none is given: ``dbkeeper.lifecycle.<ClassName>``."""
    return logging.getLogger(f"dbkeeper.lifecycle.{owner.__name__}")
