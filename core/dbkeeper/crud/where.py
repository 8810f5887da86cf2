"""``where=`` for the CRUD helpers: a dict of equalities or an explicit SQL fragment.

Two forms, and nothing else, so a condition is either fully checked by
dbkeeper or visibly written by hand:

* a mapping ``{"column": value}``: each column is checked against the table's
  real columns and quoted by the dialect; values are bound, never formatted.
  A list, tuple or set means ``IN (...)`` (an empty one matches nothing; a
  ``None`` inside also matches NULL), ``None`` means ``IS NULL``; conditions
  are joined with ``AND``. An empty mapping means "no condition".
* a :class:`Fragment` (or a ``(text, params)`` tuple): SQL written by the
  caller with placeholders, following the same rules as
  :meth:`~dbkeeper.engine.connection.DatabaseConnection.execute` with parameters:
  ``?`` or the driver's positional placeholders with a sequence, ``:name``
  (or ``%(name)s``) with a mapping. Its identifiers are not checked.

A bare string is refused: ``where=f"id = {user_input}"`` is exactly the
injection the helpers exist to prevent, so hand-written SQL has to say so by
being wrapped.

The builder emits the driver's *native* placeholders (``?``/``:name`` for
``qmark`` drivers, ``%s``/``%(name)s`` for ``pyformat`` ones), so the
connection's placeholder rewrite leaves the finished statement alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbkeeper.errors import ConfigurationError
from dbkeeper.sql.placeholders import to_pyformat

if TYPE_CHECKING:
    from dbkeeper.contract.dialect import Dialect

__all__ = ["Fragment", "ParamSink", "WhereClause", "build_where", "is_empty_where"]

#: Types whose values mean ``IN (...)`` in a where mapping.
IN_TYPES = (list, tuple, set, frozenset)


@dataclass(frozen=True)
class Fragment:
    """Hand-written SQL for ``where=``: ``Fragment("price > ? AND name LIKE ?", (10, "a%"))``.

    ``params`` is a sequence for positional placeholders or a mapping for
    named ones (``:name``). The text is the caller's responsibility: put
    values in ``params``, never in ``text``.
    """

    text: str
    params: Sequence[Any] | Mapping[str, Any] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ConfigurationError("Fragment: text must be a non-empty SQL condition")
        if isinstance(self.params, str | bytes):
            raise ConfigurationError(
                f"Fragment: params must be a sequence or a mapping of values, not a {type(self.params).__name__} "
                "(write (value,) for a single positional value)"
            )


class ParamSink:
    """Collects bound values and hands out the driver's native placeholder for each.

    Positional unless the statement contains a named fragment, in which case
    every generated placeholder is named too (``dbk_0``, ``dbk_1``...),
    because drivers cannot mix the two styles in one statement.
    """

    __slots__ = ("named", "positional", "pyformat", "values")

    def __init__(self, dialect: Dialect, *, named: bool = False) -> None:
        self.pyformat = dialect.paramstyle == "pyformat"
        self.named = named
        self.positional: list[Any] = []
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        """Bind ``value``; return the placeholder that refers to it."""
        if not self.named:
            self.positional.append(value)
            return "%s" if self.pyformat else "?"
        key = f"dbk_{len(self.values)}"
        while key in self.values:  # pragma: no cover - only if a fragment already used the name
            key += "_"
        self.values[key] = value
        return f"%({key})s" if self.pyformat else f":{key}"

    def params(self) -> tuple[Any, ...] | dict[str, Any]:
        """The bound values in the shape the driver expects."""
        return self.values if self.named else tuple(self.positional)

    def finish(self, sql: str) -> tuple[str, tuple[Any, ...] | dict[str, Any] | None]:
        """``(sql, params)`` ready for ``execute``.

        The builders escape every literal ``%`` for ``pyformat`` drivers
        (``%%``), which only the driver's placeholder pass undoes; a
        statement without values is sent without parameters, so it gets its
        single ``%`` back here.
        """
        params = self.params()
        if params:
            return sql, params
        return (sql.replace("%%", "%") if self.pyformat else sql), None


@dataclass(frozen=True)
class WhereClause:
    """A parsed ``where=``: the mapping's columns (for validation) or a fragment."""

    equalities: Mapping[str, Any] | None = None
    fragment: Fragment | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns named by a mapping (a fragment names none that dbkeeper checks)."""
        return tuple(self.equalities) if self.equalities is not None else ()

    @property
    def named(self) -> bool:
        """True when the statement must use named placeholders (a fragment with a mapping)."""
        return self.fragment is not None and isinstance(self.fragment.params, Mapping)


def is_empty_where(where: Any) -> bool:
    """True for "no condition": ``None`` or an empty mapping."""
    return where is None or (isinstance(where, Mapping) and not where)


def parse_where(where: Any) -> WhereClause | None:
    """Check the shape of ``where``; ``None`` for no condition."""
    if is_empty_where(where):
        return None
    if isinstance(where, Mapping):
        for name in where:
            if not isinstance(name, str):
                raise ConfigurationError(f"where: column names must be strings, got {name!r}")
        return WhereClause(equalities=where)
    if isinstance(where, Fragment):
        return WhereClause(fragment=where)
    if isinstance(where, tuple) and len(where) == 2 and isinstance(where[0], str):
        return WhereClause(fragment=Fragment(where[0], where[1]))
    if isinstance(where, str):
        raise ConfigurationError(
            "where: a bare SQL string is refused, because values formatted into it would not be bound; "
            "pass a dict of equalities, Fragment(text, params) or a (text, params) tuple"
        )
    raise ConfigurationError(
        f"where: expected a dict of equalities, Fragment(text, params) or (text, params), got {type(where).__name__}"
    )


def build_where(clause: WhereClause, sink: ParamSink, quote: Callable[[str], str], dialect: Dialect) -> str:
    """SQL text of ``clause`` (without the ``WHERE`` keyword), binding its values into ``sink``.

    ``quote`` turns a (validated) column name into its quoted, escaped form.
    """
    if clause.fragment is not None:
        return "(" + native_fragment(clause.fragment, sink, dialect) + ")"
    parts: list[str] = []
    for name, value in (clause.equalities or {}).items():
        column = quote(name)
        if value is None:
            parts.append(f"{column} IS NULL")
        elif isinstance(value, IN_TYPES):
            items = list(value)
            has_null = any(item is None for item in items)
            items = [item for item in items if item is not None]
            if items:
                marks = ", ".join(sink.add(item) for item in items)
                test = f"{column} IN ({marks})"
                parts.append(f"({test} OR {column} IS NULL)" if has_null else test)
            else:
                parts.append(f"{column} IS NULL" if has_null else "1 = 0")
        else:
            parts.append(f"{column} = {sink.add(value)}")
    return " AND ".join(parts)


def native_fragment(fragment: Fragment, sink: ParamSink, dialect: Dialect) -> str:
    """The fragment's text with the driver's native placeholders; its values go into ``sink``."""
    params = fragment.params
    text = fragment.text
    if isinstance(params, Mapping):
        if not sink.named:  # pragma: no cover - the caller decides the style from the clause
            raise ConfigurationError("a named fragment needs a statement with named placeholders")
        for key, value in params.items():
            if key in sink.values:
                raise ConfigurationError(f"Fragment: parameter name {key!r} is reserved by dbkeeper; rename it")
            sink.values[key] = value
        if sink.pyformat:
            return to_pyformat(text, named=True, backslash_escapes=dialect.backslash_escapes)
        return text
    if sink.named:
        raise ConfigurationError("Fragment: positional params cannot be combined with named ones in one statement")
    sink.positional.extend(params)
    if not sink.pyformat:
        return text
    if not params:  # no placeholders: every '%' is literal; escaped, as the statement may carry other values
        return text.replace("%", "%%")
    if "?" in text:
        return to_pyformat(text, named=False, backslash_escapes=dialect.backslash_escapes)
    return text
