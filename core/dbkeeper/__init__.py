"""dbkeeper: keep databases healthy over their whole life.

The public API is re-exported here lazily (PEP 562), so ``import dbkeeper``
and the CLI start fast: a name's module is imported the first time the name
is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbkeeper._exports import lazy_getattr
from dbkeeper._version import __version__

_EXPORTS: dict[str, str] = {
    "hookimpl": "dbkeeper.contract.hookspecs",
    "DatabaseManager": "dbkeeper.engine.manager",
    "manage_databases": "dbkeeper.engine.manager",
    "DatabaseConnection": "dbkeeper.engine.connection",
    "DatabaseType": "dbkeeper.engine.connection",
    "Transaction": "dbkeeper.engine.connection",
    "QueryResult": "dbkeeper.result",
    "DatabaseURL": "dbkeeper.urls",
    "Dialect": "dbkeeper.contract.dialect",
    "Capabilities": "dbkeeper.contract.dialect",
    "QueryPlan": "dbkeeper.contract.dialect",
    "TableInfo": "dbkeeper.contract.introspection",
    "ColumnInfo": "dbkeeper.contract.introspection",
    "IndexInfo": "dbkeeper.contract.introspection",
    "ForeignKeyInfo": "dbkeeper.contract.introspection",
    "DbKeeperError": "dbkeeper.errors",
    "CodomyrmexError": "dbkeeper.errors",
    "Row": "dbkeeper.result",
    "SchemaMigration": "dbkeeper.schema.generator",
    "ConfigurationError": "dbkeeper.errors",
    "UnsupportedDatabaseError": "dbkeeper.errors",
    "UnsupportedOperationError": "dbkeeper.errors",
    "PluginError": "dbkeeper.errors",
    "ConnectionError": "dbkeeper.errors",
    "ConnectionLostError": "dbkeeper.errors",
    "PoolTimeoutError": "dbkeeper.errors",
    "QueryError": "dbkeeper.errors",
    "IntegrityError": "dbkeeper.errors",
    "ClosedError": "dbkeeper.errors",
    "resolve_workspace": "dbkeeper.workspace",
    "load_config": "dbkeeper.config",
    "get_registry": "dbkeeper.engine.plugins",
    "QueryCache": "dbkeeper.crud.read_cache",
    "Fragment": "dbkeeper.crud.where",
    "UnknownTableError": "dbkeeper.crud.table_meta",
    "UnknownColumnError": "dbkeeper.crud.table_meta",
    "UnsafeWriteError": "dbkeeper.crud.methods",
    "MultipleRowsError": "dbkeeper.crud.methods",
    "Version": "dbkeeper.lifecycle.version",
    "DBStatus": "dbkeeper.lifecycle.status",
    "VersionedDatabase": "dbkeeper.lifecycle.database",
    "DBManager": "dbkeeper.lifecycle.database",
    "async_database_safe": "dbkeeper.lifecycle.decorators",
    "async_timed": "dbkeeper.lifecycle.decorators",
    "async_during_init": "dbkeeper.lifecycle.decorators",
    "async_required_argument": "dbkeeper.lifecycle.decorators",
    "with_fail_value": "dbkeeper.lifecycle.decorators",
    "fail_with_exception": "dbkeeper.lifecycle.decorators",
    "Migration": "dbkeeper.migrations.model",
    "MigrationResult": "dbkeeper.migrations.model",
    "MigrationManager": "dbkeeper.migrations.manager",
    "run_migrations": "dbkeeper.migrations.api",
    "MigrationError": "dbkeeper.migrations.errors",
    "Backup": "dbkeeper.backup.models",
    "BackupResult": "dbkeeper.backup.models",
    "BackupManager": "dbkeeper.backup.manager",
    "backup_database": "dbkeeper.backup.api",
    "restore_database": "dbkeeper.backup.api",
    "verify_database": "dbkeeper.backup.api",
    "EncryptionSettings": "dbkeeper.backup.crypto",
    "BackupError": "dbkeeper.backup.errors",
    "DatabaseMetrics": "dbkeeper.monitoring.api",
    "DatabasePerformanceMonitor": "dbkeeper.monitoring.api",
    "monitor_database": "dbkeeper.monitoring.api",
    "optimize_database": "dbkeeper.monitoring.api",
    "SchemaDefinition": "dbkeeper.schema.model",
    "SchemaTable": "dbkeeper.schema.model",
    "SchemaColumn": "dbkeeper.schema.model",
    "SchemaIndex": "dbkeeper.schema.model",
    "SchemaGenerator": "dbkeeper.schema.generator",
    "generate_schema": "dbkeeper.schema.generator",
    "SchemaDiff": "dbkeeper.schema.migration",
    "SchemaError": "dbkeeper.schema.errors",
}

__all__ = [
    "__version__",
    "hookimpl",
    "DatabaseManager",
    "manage_databases",
    "DatabaseConnection",
    "DatabaseType",
    "Transaction",
    "QueryResult",
    "DatabaseURL",
    "Dialect",
    "Capabilities",
    "QueryPlan",
    "TableInfo",
    "ColumnInfo",
    "IndexInfo",
    "ForeignKeyInfo",
    "DbKeeperError",
    "CodomyrmexError",
    "Row",
    "SchemaMigration",
    "ConfigurationError",
    "UnsupportedDatabaseError",
    "UnsupportedOperationError",
    "PluginError",
    "ConnectionError",
    "ConnectionLostError",
    "PoolTimeoutError",
    "QueryError",
    "IntegrityError",
    "ClosedError",
    "resolve_workspace",
    "load_config",
    "get_registry",
    "QueryCache",
    "Fragment",
    "UnknownTableError",
    "UnknownColumnError",
    "UnsafeWriteError",
    "MultipleRowsError",
    "Version",
    "DBStatus",
    "VersionedDatabase",
    "DBManager",
    "async_database_safe",
    "async_timed",
    "async_during_init",
    "async_required_argument",
    "with_fail_value",
    "fail_with_exception",
    "Migration",
    "MigrationResult",
    "MigrationManager",
    "run_migrations",
    "MigrationError",
    "Backup",
    "BackupResult",
    "BackupManager",
    "backup_database",
    "restore_database",
    "verify_database",
    "EncryptionSettings",
    "BackupError",
    "DatabaseMetrics",
    "DatabasePerformanceMonitor",
    "monitor_database",
    "optimize_database",
    "SchemaDefinition",
    "SchemaTable",
    "SchemaColumn",
    "SchemaIndex",
    "SchemaGenerator",
    "generate_schema",
    "SchemaDiff",
    "SchemaError",
]

if TYPE_CHECKING:
    from dbkeeper.backup.api import backup_database, restore_database, verify_database
    from dbkeeper.backup.crypto import EncryptionSettings
    from dbkeeper.backup.errors import BackupError
    from dbkeeper.backup.manager import BackupManager
    from dbkeeper.backup.models import Backup, BackupResult
    from dbkeeper.config import load_config
    from dbkeeper.contract.dialect import Capabilities, Dialect, QueryPlan
    from dbkeeper.contract.hookspecs import hookimpl
    from dbkeeper.contract.introspection import ColumnInfo, ForeignKeyInfo, IndexInfo, TableInfo
    from dbkeeper.crud.methods import MultipleRowsError, UnsafeWriteError
    from dbkeeper.crud.read_cache import QueryCache
    from dbkeeper.crud.table_meta import UnknownColumnError, UnknownTableError
    from dbkeeper.crud.where import Fragment
    from dbkeeper.engine.connection import DatabaseConnection, DatabaseType, Transaction
    from dbkeeper.engine.manager import DatabaseManager, manage_databases
    from dbkeeper.engine.plugins import get_registry
    from dbkeeper.errors import (
        ClosedError,
        CodomyrmexError,
        ConfigurationError,
        ConnectionError,
        ConnectionLostError,
        DbKeeperError,
        IntegrityError,
        PluginError,
        PoolTimeoutError,
        QueryError,
        UnsupportedDatabaseError,
        UnsupportedOperationError,
    )
    from dbkeeper.lifecycle.database import DBManager, VersionedDatabase
    from dbkeeper.lifecycle.decorators import (
        async_database_safe,
        async_during_init,
        async_required_argument,
        async_timed,
        fail_with_exception,
        with_fail_value,
    )
    from dbkeeper.lifecycle.status import DBStatus
    from dbkeeper.lifecycle.version import Version
    from dbkeeper.migrations.api import run_migrations
    from dbkeeper.migrations.errors import MigrationError
    from dbkeeper.migrations.manager import MigrationManager
    from dbkeeper.migrations.model import Migration, MigrationResult
    from dbkeeper.monitoring.api import DatabaseMetrics, DatabasePerformanceMonitor, monitor_database, optimize_database
    from dbkeeper.result import QueryResult, Row
    from dbkeeper.schema.errors import SchemaError
    from dbkeeper.schema.generator import SchemaGenerator, SchemaMigration, generate_schema
    from dbkeeper.schema.migration import SchemaDiff
    from dbkeeper.schema.model import SchemaColumn, SchemaDefinition, SchemaIndex, SchemaTable
    from dbkeeper.urls import DatabaseURL
    from dbkeeper.workspace import resolve_workspace


__getattr__ = lazy_getattr(globals(), _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)
