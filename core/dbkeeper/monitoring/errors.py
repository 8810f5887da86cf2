"""Errors raised by the monitoring subsystem."""

from __future__ import annotations

from dbkeeper.errors import DbKeeperError


class MonitoringError(DbKeeperError):
    """Monitoring could not do its work.

    The metrics store could not be read or written (path, permissions,
    corruption), a retention setting in the environment is not a positive
    number, or the demo's own check failed (no missing index found, or a plan
    that still scans after the fix). The message names the file, variable or
    plan.
    """
