"""Errors raised by the monitoring subsystem."""

from __future__ import annotations

from dbkeeper.errors import DbKeeperError


class MonitoringError(DbKeeperError):
    """The metrics store could not be read or written (path, permissions, corruption)."""
