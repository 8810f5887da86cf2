"""dbkeeper's Redis backend (redis-py), packaged exactly like a third-party plugin.

The core never names this package: pip installs it with an entry point in
the group ``dbkeeper``, the core imports this module lazily and calls its
``dbkeeper_register_dialects`` hook. Importing it is cheap (redis-py is
imported only when a connection is opened), because every ``dbkeeper``
command loads every plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dbkeeper
from dbkeeper.contract.dialect import Dialect
from dbkeeper_redis._version import __version__
from dbkeeper_redis.dialect import RedisDialect

__all__ = ["RedisDialect", "__version__"]


@dbkeeper.hookimpl
def dbkeeper_register_dialects(register: Callable[[type[Dialect]], None]) -> None:
    register(RedisDialect)


@dbkeeper.hookimpl
def dbkeeper_register_advisor_rules(register: Callable[[type[Any]], None]) -> None:
    from dbkeeper_redis.advisor import RedisAdvisorRules

    register(RedisAdvisorRules)
