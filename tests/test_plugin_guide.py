"""docs/writing-a-plugin.md cannot drift from the contract it documents.

The guide's reference (section 10) lists every public member of ``Dialect``
and ``DDLRenderer`` with its signature, its capability table every
``Capabilities`` flag with its default, and its conformance-suite table every
suite module: each is compared with the live classes and package, both ways,
so a member added, renamed or re-signed without the guide fails here.
"""

from __future__ import annotations

import inspect
import pkgutil
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

import dbkeeper.testing.suite as suite_package
from dbkeeper.contract.dialect import Capabilities, Dialect
from dbkeeper.schema.ddl import DDLRenderer

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-a-plugin.md"
_ROW = re.compile(r"^\| `([A-Za-z_][A-Za-z0-9_]*)(\([^`]*\))?`", re.M)


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end, text.index(start))]


def _rows(text: str) -> dict[str, str | None]:
    """First-column names of a section's tables, with the documented signature (``None`` for attributes)."""
    return {m.group(1): m.group(2) for m in _ROW.finditer(text)}


def _signature(cls: type, name: str) -> str:
    out: list[str] = []
    star = False
    for parameter_name, parameter in inspect.signature(getattr(cls, name)).parameters.items():
        if parameter_name == "self":
            continue
        if parameter.kind is parameter.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        default = parameter.default
        out.append(parameter_name if default is parameter.empty else f"{parameter_name}={default!r}")
    return f"({', '.join(out)})"


def _public(cls: type) -> dict[str, Any]:
    return {name: value for name, value in vars(cls).items() if not name.startswith("_")}


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


@pytest.mark.parametrize(("cls", "attributes", "methods"), [
    (Dialect, ("### `Dialect` attributes", "### `Dialect` methods"), ("### `Dialect` methods", "### `DDLRenderer`")),
    (DDLRenderer, ("### `DDLRenderer`: switches", "### `DDLRenderer`: override"),
     ("### `DDLRenderer`: override points", "### `RebuildTable`")),
], ids=["Dialect", "DDLRenderer"])
def test_the_reference_lists_every_member_with_its_live_signature(guide: str, cls: type,
                                                                  attributes: tuple[str, str],
                                                                  methods: tuple[str, str]) -> None:
    live = _public(cls)
    documented_attributes = _rows(_section(guide, *attributes))
    documented_methods = _rows(_section(guide, *methods))
    assert set(documented_attributes) == {n for n, v in live.items() if not callable(v)}
    assert set(documented_methods) == {n for n, v in live.items() if callable(v)}
    assert all(signature is None for signature in documented_attributes.values())
    assert documented_methods == {n: _signature(cls, n) for n in documented_methods}


def test_the_capability_table_lists_every_flag_with_its_default(guide: str) -> None:
    table = _section(guide, "| capability | default | meaning |", "The defaults are what")
    documented: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            documented[name] = cells[1]
    defaults = Capabilities()
    assert set(documented) == {f.name for f in fields(Capabilities)}
    assert documented == {f.name: "on" if getattr(defaults, f.name) else "off" for f in fields(Capabilities)}


def test_the_suite_table_lists_every_conformance_module(guide: str) -> None:
    table = _section(guide, "| module | class | switched by | what it proves |", "Subclass `DialectConformance`")
    documented = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+)` \| `([A-Za-z]+)` \|", table, re.M)}
    modules = {info.name for info in pkgutil.iter_modules(suite_package.__path__) if not info.name.startswith("_")}
    assert set(documented) == modules
    for module, cls in documented.items():
        assert getattr(suite_package, cls).__module__ == f"dbkeeper.testing.suite.{module}"
