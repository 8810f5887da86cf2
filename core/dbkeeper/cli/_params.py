"""``--param``: turn command-line strings into statement parameters.

``--param VALUE`` (repeated) binds the positional ``?`` placeholders in order;
``--param NAME=VALUE`` binds ``:NAME``. The two kinds cannot be mixed in one
statement, because DBAPI drivers take either a sequence or a mapping.

A value is bound as text unless it is a JSON number, ``true``, ``false`` or
``null`` (bound as int/float, bool, NULL). A JSON string literal is bound as
the text inside its quotes, which is how to pass text that would otherwise
read as a number (``--param '"007"'``) or as a named parameter
(``--param '"a=b"'``). Surrounding whitespace keeps a value text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import click

_NAMED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
_JSON_START = frozenset('-0123456789tfn"')


def parse_value(text: str) -> Any:
    """One ``--param`` value: a JSON scalar when it is one, else the text itself."""
    if not text or text != text.strip() or text[0] not in _JSON_START:
        return text
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return text


def _reject_constant(name: str) -> Any:
    """``json`` accepts NaN and Infinity; as parameters they are text."""
    raise ValueError(name)


def parse_params(values: Sequence[str]) -> list[Any] | dict[str, Any] | None:
    """All ``--param`` options: a list (positional), a dict (named) or ``None`` (none given)."""
    if not values:
        return None
    positional: list[Any] = []
    named: dict[str, Any] = {}
    for raw in values:
        match = _NAMED.fullmatch(raw)
        if match is None:
            positional.append(parse_value(raw))
            continue
        name, text = match.groups()
        if name in named:
            raise click.BadParameter(f"{name!r} is given twice", param_hint="--param")
        named[name] = parse_value(text)
    if positional and named:
        raise click.BadParameter(
            "use either positional values (for ? placeholders) or NAME=VALUE pairs (for :NAME), not both; "
            "write a positional value that contains '=' as a JSON string, e.g. '\"a=b\"'",
            param_hint="--param",
        )
    return named if named else positional
