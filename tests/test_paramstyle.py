"""Portable placeholders are rewritten for pyformat drivers, and nothing else is touched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbkeeper.paramstyle import to_pyformat


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
