"""Render hook signatures exactly as ``docs/hooks.md`` must show them.

Used by the test that keeps the hook reference honest, and handy when
writing the docs: ``python -m dbkeeper._hookdoc`` prints every signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from dbkeeper import hookspecs


def hook_functions() -> dict[str, Callable[..., Any]]:
    """Every hook specification in :mod:`dbkeeper.hookspecs`, by name."""
    return {name: fn for name, fn in vars(hookspecs).items() if name.startswith("dbkeeper_") and callable(fn)}


def signature_line(fn: Callable[..., Any]) -> str:
    """``def name(arg: Annotation, ...) -> Return`` with annotations as written in the source."""
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {fn.__name__}({params}) -> {sig.return_annotation}"


def is_firstresult(fn: Callable[..., Any]) -> bool:
    """True when the hook stops at the first non-None result."""
    opts = getattr(fn, "dbkeeper_spec", {}) or {}
    return bool(opts.get("firstresult"))


if __name__ == "__main__":  # pragma: no cover
    for function in hook_functions().values():
        print(signature_line(function))
