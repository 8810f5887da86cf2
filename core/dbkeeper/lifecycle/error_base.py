"""The lifecycle's base error and the one error :mod:`dbkeeper.lifecycle.version` raises.

They live apart from :mod:`dbkeeper.lifecycle.errors` because those errors carry
:class:`~dbkeeper.lifecycle.version.Version` values (``stored``, ``expected``)
while ``Version`` itself raises :class:`VersionFormatError`: with both in one
module the two would import each other. :mod:`dbkeeper.lifecycle.errors`
re-exports both names, so ``from dbkeeper.lifecycle.errors import
LifecycleError`` keeps working.
"""

from __future__ import annotations

from dbkeeper.errors import DbKeeperError


class LifecycleError(DbKeeperError):
    """Base class of every error raised by :mod:`dbkeeper.lifecycle`."""


class VersionFormatError(LifecycleError, ValueError):
    """A version string or version-table row is malformed."""
