"""A DuckDB dialect for dbkeeper, written from ``docs/writing-a-plugin.md`` alone.

It is the test of that page: a backend for an engine none of dbkeeper's own
plugins is (embedded, columnar, a driver whose ``cursor()`` opens a new
session, ``$1`` placeholders, no savepoints), kept as a test-only package and
registered in the test session through the plugin API
(``PluginRegistry(extra_plugins=...)``, see ``tests/third_party/conftest.py``).
A published plugin would add the entry point instead::

    [project.entry-points.dbkeeper]
    duckdb = "dbkeeper_duckdb"

Importing it does not import the driver.
"""

from __future__ import annotations

from typing import Any

import dbkeeper
from dbkeeper_duckdb.dialect import DuckDBDialect

__all__ = ["DuckDBDialect", "dbkeeper_register_dialects"]


@dbkeeper.hookimpl
def dbkeeper_register_dialects(register: Any) -> None:
    register(DuckDBDialect)
