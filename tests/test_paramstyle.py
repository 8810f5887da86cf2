"""Portable placeholders are rewritten for pyformat drivers, and nothing else is touched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbkeeper.sql.placeholders import to_pyformat


@pytest.mark.parametrize(
    ("sql", "named", "expected"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", False, "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("SELECT :a, :b_2", True, "SELECT %(a)s, %(b_2)s"),
        ("SELECT '?' , ?", False, "SELECT '?' , %s"),
        ("SELECT ':x', :y", True, "SELECT ':x', %(y)s"),
        ("SELECT x::int, :y", True, "SELECT x::int, %(y)s"),
        ("SELECT $$ ? :a $$, ?", False, "SELECT $$ ? :a $$, %s"),
        ("SELECT $tag$ it's ? $tag$, ?", False, "SELECT $tag$ it's ? $tag$, %s"),
        ("SELECT 1 -- what? :x\n, ?", False, "SELECT 1 -- what? :x\n, %s"),
        ("SELECT /* ? */ ?", False, "SELECT /* ? */ %s"),
        ('SELECT "col?" FROM t WHERE a = ?', False, 'SELECT "col?" FROM t WHERE a = %s'),
        ("SELECT '50%', ?", False, "SELECT '50%%', %s"),
        ("SELECT 'it''s ?', ?", False, "SELECT 'it''s ?', %s"),
        ("SELECT data ? 'key' FROM t WHERE id = %s", False, "SELECT data ? 'key' FROM t WHERE id = %s"),
        ("SELECT %(a)s, :b", True, "SELECT %(a)s, :b"),
        ("SELECT 1", False, "SELECT 1"),
    ],
)
def test_rewrites(sql: str, named: bool, expected: str) -> None:
    assert to_pyformat(sql, named=named) == expected


def test_backslash_escaped_quotes_stay_inside_the_literal() -> None:
    sql = r"SELECT 'it\'s ?', ?"
    assert to_pyformat(sql, named=False, backslash_escapes=True) == r"SELECT 'it\'s ?', %s"


def test_results_are_cached() -> None:
    sql = "SELECT ? AS cached_probe"
    assert to_pyformat(sql, named=False) is to_pyformat(sql, named=False)


_literal = st.text(alphabet="ab ?:%$-*/\n", max_size=12).map(lambda s: "'" + s.replace("'", "''") + "'")
_plain = st.sampled_from(["SELECT", " ", "x", ",", "(", ")", "=", "1", "FROM t", "WHERE"])


@given(parts=st.lists(st.one_of(_literal, _plain, st.just("?")), max_size=25))
def test_literals_survive_and_every_bare_question_mark_becomes_a_placeholder(parts: list[str]) -> None:
    sql = "".join(parts)
    rewritten = to_pyformat(sql, named=False)
    bare = parts.count("?")
    if bare == 0:
        assert rewritten == sql
        return
    expected = "".join("%s" if p == "?" else p.replace("%", "%%") for p in parts)
    assert rewritten == expected


@pytest.mark.parametrize(
    ("style", "sql", "named", "expected"),
    [
        ("dollar", "SELECT ?, ? FROM t WHERE x = '?'", False, "SELECT $1, $2 FROM t WHERE x = '?'"),
        ("dollar", "SELECT :a, :b::int, '50%' FROM t", True, "SELECT $a, $b::int, '50%' FROM t"),
        ("dollar", "SELECT $1, ? FROM t", False, "SELECT $1, ? FROM t"),  # native placeholders: untouched
        ("dollar", "SELECT $tag$ ? $tag$, ?", False, "SELECT $tag$ ? $tag$, $1"),
        ("numeric", "INSERT INTO t VALUES (?, ?)", False, "INSERT INTO t VALUES (:1, :2)"),
        ("numeric", "SELECT :a -- ?", True, "SELECT :a -- ?"),  # the driver's own named style
        ("qmark", "SELECT ?, :a", False, "SELECT ?, :a"),
    ],
)
def test_numeric_and_dollar_styles(style: str, sql: str, named: bool, expected: str) -> None:
    from dbkeeper.sql.placeholders import to_driver_style

    assert to_driver_style(sql, style, named=named) == expected


_literal_without_dollars = st.text(alphabet="ab ?:%-*/\n", max_size=12).map(lambda s: "'" + s.replace("'", "''") + "'")


@given(parts=st.lists(st.one_of(_literal_without_dollars, _plain, st.just("?")), max_size=25))
def test_dollar_numbers_every_bare_question_mark_in_order_and_leaves_literals(parts: list[str]) -> None:
    """(Literals hold no ``$``: a ``$1`` in the text is a native placeholder, tested above.)"""
    from dbkeeper.sql.placeholders import to_driver_style

    sql = "".join(parts)
    counter = iter(range(1, len(parts) + 1))
    expected = "".join(f"${next(counter)}" if p == "?" else p for p in parts)
    assert to_driver_style(sql, "dollar", named=False) == expected
