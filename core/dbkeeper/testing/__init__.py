"""Testing support for dbkeeper and dialect plugins, ours and third parties'.

- :mod:`dbkeeper.testing.servers`: find the test servers, create and drop
  uniquely named scratch databases, skip or fail when a server is missing.
- :mod:`dbkeeper.testing.suite`: the conformance suite. A dialect plugin
  subclasses :class:`~dbkeeper.testing.suite.DialectConformance`, provides a
  ``database_url`` fixture, and inherits every test; the dialect's
  :class:`~dbkeeper.dialect.Capabilities` switch off what it does not support.
- :mod:`dbkeeper.testing.private_servers`: throw-away PostgreSQL and MariaDB
  instances in a temporary directory, for tests that need a server setting
  the shared ones lack (``pg_stat_statements`` preloaded,
  ``performance_schema`` on).
- :mod:`dbkeeper.testing.pytest_plugin`: fixtures (``dbkeeper_sqlite_url``,
  ``dbkeeper_postgres_url``, ``dbkeeper_mysql_url``), registered with pytest
  through the ``pytest11`` entry point.
"""
