"""Lazy re-exports (PEP 562) shared by the packages that re-export their public names.

``import dbkeeper`` and ``dbkeeper migrate --help`` must not import the
modules behind every public name, so each package maps names to modules and
imports a module the first time one of its names is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(namespace: dict[str, Any], exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that resolves ``exports`` (name -> module) and caches each name in ``namespace``."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
