"""Testing support for dbkeeper and dialect plugins, ours and third parties'.

- :mod:`dbkeeper.testing.servers`: find the test servers, create and drop
  uniquely named scratch databases, skip or fail when a server is missing.
- :mod:`dbkeeper.testing.suite`: the conformance suite, one module per
  capability. A dialect plugin subclasses
  :class:`~dbkeeper.testing.suite.DialectConformance`, provides a
  ``database_url`` fixture, and inherits every test; the dialect's
  :class:`~dbkeeper.contract.dialect.Capabilities` switch off what it does not support.
- :mod:`dbkeeper.testing.provision`: provisioning points (``start_server``)
  the plugins fill in their own ``provision`` modules, and the machinery to
  run a throw-away server; :mod:`dbkeeper.testing.private_servers` keeps the
  older names (``start_postgres``, ``private_mariadb``...) as dispatchers.
- :mod:`dbkeeper.testing.pytest_plugin`: fixtures (``dbkeeper_sqlite_url``,
  ``dbkeeper_postgres_url``, ``dbkeeper_mysql_url``), registered with pytest
  through the ``pytest11`` entry point.
"""
