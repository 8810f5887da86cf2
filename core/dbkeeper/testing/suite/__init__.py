"""The dialect conformance suite: one module per capability, one class that runs them all.

A plugin runs it by subclassing :class:`DialectConformance` and providing a
``database_url`` fixture that yields the URL of an empty scratch database::

    from dbkeeper.testing.suite import DialectConformance

    class TestMyDialect(DialectConformance):
        @pytest.fixture
        def database_url(self, dbkeeper_postgres_url):
            return dbkeeper_postgres_url

        def kill_session(self, admin, victim_id):   # for servers: see below
            admin.execute("SELECT pg_terminate_backend(%s)", (victim_id,))

The modules, each a class of its own (subclass one alone to run only it):

=====================  ==========================================  =====================================
module                 class                                       switched by
=====================  ==========================================  =====================================
``execute``            :class:`ExecuteConformance`                 ``sql``
``transactions``       :class:`TransactionConformance`             ``transactions``, ``savepoints``
``bulk``               :class:`BulkConformance`                    ``bulk_insert``
``introspection``      :class:`IntrospectionConformance`           ``introspection``, ``foreign_key_actions``,
                                                                   ``explain``
``sessions``           :class:`SessionConformance`                 ``server`` (a killed session)
``backup``             :class:`BackupConformance`                  ``dump`` + ``restore`` (``backups``)
``incremental``        :class:`IncrementalConformance`             ``incremental``
``schema``             :class:`SchemaConformance`                  ``render_ddl``, ``alter_column``
``migrations``         :class:`MigrationLockConformance`           ``migrations``, ``migration_lock``
=====================  ==========================================  =====================================

Tests that need a capability the dialect switches off in its
:class:`~dbkeeper.contract.dialect.Capabilities` are skipped by declaration, with the
flag named in the reason, as SQLAlchemy's suite is switched by its
requirements class; a store whose statements are not SQL declares
``sql=False`` and runs only the tests that do not speak SQL, plus the backup
modules when it overrides ``seed_data``/``change_data``/``data_state``.
Server dialects implement ``session_id`` and ``kill_session`` so the suite
can prove that a killed session is survived.
"""

from __future__ import annotations

from dbkeeper.testing.suite._base import HOSTILE_VALUE, SECRET_PASSWORD, ConformanceBase
from dbkeeper.testing.suite.backup import BackupConformance
from dbkeeper.testing.suite.bulk import BulkConformance
from dbkeeper.testing.suite.execute import ExecuteConformance
from dbkeeper.testing.suite.incremental import IncrementalConformance
from dbkeeper.testing.suite.introspection import IntrospectionConformance
from dbkeeper.testing.suite.migrations import MigrationLockConformance
from dbkeeper.testing.suite.schema import SchemaConformance
from dbkeeper.testing.suite.sessions import SessionConformance
from dbkeeper.testing.suite.transactions import TransactionConformance

__all__ = [
    "HOSTILE_VALUE",
    "SECRET_PASSWORD",
    "BackupConformance",
    "BulkConformance",
    "ConformanceBase",
    "DialectConformance",
    "ExecuteConformance",
    "IncrementalConformance",
    "IntrospectionConformance",
    "MigrationLockConformance",
    "SchemaConformance",
    "SessionConformance",
    "TransactionConformance",
]


class DialectConformance(ExecuteConformance, TransactionConformance, BulkConformance, IntrospectionConformance,
                         SessionConformance, BackupConformance, IncrementalConformance, SchemaConformance,
                         MigrationLockConformance):
    """Every capability module at once; subclass it in your plugin's tests."""
