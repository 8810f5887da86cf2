"""``where=`` building: shapes accepted, SQL produced, values bound and never formatted."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbkeeper.contract.dialect import Dialect
from dbkeeper.crud.where import Fragment, ParamSink, build_where, parse_where
from dbkeeper.errors import ConfigurationError


class QmarkDialect(Dialect):
    name = "qmark-test"
    paramstyle = "qmark"


class PyformatDialect(Dialect):
    name = "pyformat-test"
    paramstyle = "pyformat"


def build(where: Any, dialect: Dialect | None = None) -> tuple[str, Any]:
    dialect = dialect or QmarkDialect()
    clause = parse_where(where)
    assert clause is not None
    sink = ParamSink(dialect, named=clause.named)
    return build_where(clause, sink, dialect.quote_identifier, dialect), sink.params()


def test_equalities_in_lists_and_nulls() -> None:
    assert build({"a": 1, "b": None, "c": [1, 2], "d": (None, 3), "e": [], "f": [None]}) == (
        '"a" = ? AND "b" IS NULL AND "c" IN (?, ?) AND ("d" IN (?) OR "d" IS NULL) AND 1 = 0 AND "f" IS NULL',
        (1, 1, 2, 3),
    )


def test_pyformat_drivers_get_native_placeholders() -> None:
    assert build({"a": 1, "b": {2}}, PyformatDialect()) == ('"a" = %s AND "b" IN (%s)', (1, 2))
    assert build(Fragment("x > ? AND y LIKE ?", (1, "a%")), PyformatDialect()) == (
        "(x > %s AND y LIKE %s)", (1, "a%"))


def test_literal_percent_signs_are_escaped_until_the_statement_is_finished() -> None:
    clause = parse_where(Fragment("c LIKE '5%'"))
    assert clause is not None
    sink = ParamSink(PyformatDialect())
    text = build_where(clause, sink, PyformatDialect().quote_identifier, PyformatDialect())
    assert text == "(c LIKE '5%%')"
    assert sink.finish(f"SELECT * FROM t WHERE {text}") == ("SELECT * FROM t WHERE (c LIKE '5%')", None)
    sink.add(1)
    assert sink.finish("x = %s AND c LIKE '5%%'") == ("x = %s AND c LIKE '5%%'", (1,))
    qmark = ParamSink(QmarkDialect())
    assert build_where(clause, qmark, QmarkDialect().quote_identifier, QmarkDialect()) == "(c LIKE '5%')"
    assert qmark.finish("c LIKE '5%'") == ("c LIKE '5%'", None)


def test_named_fragments_make_every_placeholder_named() -> None:
    assert build(Fragment("x > :lo", {"lo": 3})) == ("(x > :lo)", {"lo": 3})
    assert build(Fragment("x > :lo", {"lo": 3}), PyformatDialect()) == ("(x > %(lo)s)", {"lo": 3})
    sink = ParamSink(QmarkDialect(), named=True)
    assert sink.add(1) == ":dbk_0" and sink.add(2) == ":dbk_1"
    assert sink.params() == {"dbk_0": 1, "dbk_1": 2}


def test_tuple_shorthand_is_a_fragment() -> None:
    assert build(("x = ?", [5])) == ("(x = ?)", (5,))


@pytest.mark.parametrize("where", [None, {}])
def test_no_condition(where: Any) -> None:
    assert parse_where(where) is None


@pytest.mark.parametrize(("where", "message"), [
    ("id = 1", "bare SQL string"),
    (42, "expected a dict"),
    ({1: "x"}, "column names must be strings"),
    (("x = ?", "1"), "sequence or a mapping"),
])
def test_bad_shapes_are_refused(where: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_where(where)


def test_empty_fragments_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="non-empty"):
        Fragment("  ")


@given(st.dictionaries(st.text(st.characters(blacklist_characters="%"), min_size=1, max_size=10),
                       st.one_of(st.none(), st.integers(), st.text(), st.lists(st.one_of(st.none(), st.text()),
                                                                                 max_size=3)),
                       min_size=1, max_size=5))
def test_values_never_appear_in_the_sql_text(where: dict[str, Any]) -> None:
    sql, params = build(where, PyformatDialect())
    flat: list[Any] = []
    for value in where.values():
        if isinstance(value, list):
            flat.extend(v for v in value if v is not None)
        elif value is not None:
            flat.append(value)
    assert list(params) == flat
    marks = sql.count("%s")
    assert marks == len(flat)
