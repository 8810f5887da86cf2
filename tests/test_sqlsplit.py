"""Statement splitting: each dialect's lexical rules, and properties over generated scripts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbkeeper.sql.split import ANSI, MYSQL, POSTGRES, SQLITE, SplitOptions, keywords, split_sql


def test_semicolons_end_statements_and_whitespace_is_trimmed() -> None:
    assert split_sql("  SELECT 1 ;\n\nSELECT 2;  \n") == ["SELECT 1", "SELECT 2"]


def test_a_last_statement_without_a_semicolon_is_kept() -> None:
    assert split_sql("SELECT 1; SELECT 2") == ["SELECT 1", "SELECT 2"]


def test_comment_only_fragments_are_dropped_and_comments_inside_statements_kept() -> None:
    sql = "-- header; not a statement\nSELECT 1 /* a;b */ ;\n/* trailing; */\n-- done;"
    assert split_sql(sql) == ["-- header; not a statement\nSELECT 1 /* a;b */"]


@pytest.mark.parametrize("options", [ANSI, SQLITE, POSTGRES, MYSQL])
def test_semicolons_inside_string_literals_do_not_split(options: SplitOptions) -> None:
    assert split_sql("INSERT INTO t VALUES ('a;b', 'it''s; fine'); SELECT 2", options) == [
        "INSERT INTO t VALUES ('a;b', 'it''s; fine')", "SELECT 2"]


def test_quoted_identifiers_may_contain_semicolons() -> None:
    assert split_sql('SELECT "a;b" FROM t; SELECT 2', POSTGRES) == ['SELECT "a;b" FROM t', "SELECT 2"]
    assert split_sql("SELECT `a;b` FROM t; SELECT 2", MYSQL) == ["SELECT `a;b` FROM t", "SELECT 2"]
    assert split_sql("SELECT [a;b] FROM t; SELECT 2", SQLITE) == ["SELECT [a;b] FROM t", "SELECT 2"]


def test_postgres_dollar_quoted_function_bodies_stay_whole() -> None:
    body = ("CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  NEW.x := 'a;b';\n  RETURN NEW;\nEND;\n$$ "
            "LANGUAGE plpgsql")
    assert split_sql(f"{body};\nSELECT 1;", POSTGRES) == [body, "SELECT 1"]


def test_postgres_tagged_dollar_quotes_may_contain_plain_dollar_quotes() -> None:
    body = "CREATE FUNCTION g() RETURNS text AS $fn$ SELECT $$;$$ $fn$ LANGUAGE sql"
    assert split_sql(f"{body}; SELECT 2", POSTGRES) == [body, "SELECT 2"]


def test_postgres_positional_parameters_and_dollar_identifiers_are_not_quotes() -> None:
    assert split_sql("PREPARE p AS SELECT $1; SELECT a$b FROM t; SELECT 3", POSTGRES) == [
        "PREPARE p AS SELECT $1", "SELECT a$b FROM t", "SELECT 3"]


def test_postgres_e_strings_honour_backslash_escapes() -> None:
    assert split_sql(r"SELECT E'a\';b'; SELECT 'c\'; SELECT 3", POSTGRES) == [
        r"SELECT E'a\';b'", r"SELECT 'c\'", "SELECT 3"]


def test_postgres_block_comments_nest() -> None:
    assert split_sql("/* a /* b; */ c; */ SELECT 1; SELECT 2", POSTGRES) == [
        "/* a /* b; */ c; */ SELECT 1", "SELECT 2"]


def test_postgres_begin_atomic_bodies_stay_whole() -> None:
    body = "CREATE FUNCTION h() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END"
    assert split_sql(f"{body}; SELECT 3", POSTGRES) == [body, "SELECT 3"]


def test_postgres_rule_actions_in_parentheses_stay_whole() -> None:
    rule = "CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))"
    assert split_sql(f"{rule}; SELECT 1", POSTGRES) == [rule, "SELECT 1"]


def test_mysql_procedures_without_delimiter_stay_whole() -> None:
    proc = ("CREATE PROCEDURE p(IN n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  IF n > 0 THEN SET i = 1; END IF;\n"
            "  SET i = CASE WHEN i > 0 THEN 2 ELSE 3 END;\n"
            "  CASE i WHEN 2 THEN SELECT 'two;'; ELSE SELECT 3; END CASE;\n"
            "  lbl: LOOP LEAVE lbl; END LOOP lbl;\n  WHILE i < 5 DO SET i = i + 1; END WHILE;\n"
            "  REPEAT SET i = i + 1; UNTIL i > 9 END REPEAT;\n  BEGIN SELECT 'nested'; END;\nEND")
    assert split_sql(f"{proc};\nCALL p(1);", MYSQL) == [proc, "CALL p(1)"]


def test_mysql_triggers_events_and_functions_stay_whole() -> None:
    trigger = "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = 1; SET NEW.b = 2; END"
    event = "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM x; DELETE FROM y; END"
    func = "CREATE DEFINER=`root`@`%` FUNCTION f() RETURNS INT DETERMINISTIC BEGIN RETURN 1; END"
    assert split_sql(f"{trigger};{event};{func};SELECT 1", MYSQL) == [trigger, event, func, "SELECT 1"]


def test_mysql_delimiter_lines_are_understood_and_dropped() -> None:
    sql = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END//\nDELIMITER ;\nSELECT 2;\n"
    assert split_sql(sql, MYSQL) == ["CREATE PROCEDURE p() BEGIN SELECT 1; END", "SELECT 2"]


def test_mysql_backslash_escapes_hash_comments_and_executable_comments() -> None:
    sql = "SELECT 'a\\';b'; # note; here\nSELECT \"c\\\";d\"; /*!40101 SET NAMES utf8mb4 */;"
    assert split_sql(sql, MYSQL) == ["SELECT 'a\\';b'", "# note; here\nSELECT \"c\\\";d\"",
                                     "/*!40101 SET NAMES utf8mb4 */"]


def test_mariadb_begin_not_atomic_is_a_block_but_plain_begin_is_a_transaction() -> None:
    assert split_sql("BEGIN NOT ATOMIC SELECT 1; SELECT 2; END; SELECT 3", MYSQL) == [
        "BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", "SELECT 3"]
    assert split_sql("BEGIN; SELECT 1; COMMIT", MYSQL) == ["BEGIN", "SELECT 1", "COMMIT"]


def test_sqlite_trigger_bodies_stay_whole() -> None:
    trigger = ("CREATE TRIGGER audit AFTER UPDATE ON t BEGIN INSERT INTO log VALUES (old.id, 'x;y'); "
               "UPDATE s SET n = CASE WHEN n > 1 THEN 0 ELSE n + 1 END; END")
    assert split_sql(f"{trigger}; SELECT 1", SQLITE) == [trigger, "SELECT 1"]


def test_case_expressions_outside_routines_do_not_affect_splitting() -> None:
    assert split_sql("SELECT CASE WHEN a THEN 1 END FROM t; SELECT 2") == [
        "SELECT CASE WHEN a THEN 1 END FROM t", "SELECT 2"]


def test_unterminated_literals_swallow_the_rest_instead_of_guessing() -> None:
    assert split_sql("SELECT 'open; SELECT 2") == ["SELECT 'open; SELECT 2"]


def test_keywords_skip_comments_and_mark_quoted_parts() -> None:
    assert keywords("-- x\n/* y */ create unique index concurrently \"ix\" on t", 6, POSTGRES) == [
        "CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", "", "ON"]


# -- properties -------------------------------------------------------------------------------------------
_word = st.sampled_from(["SELECT", "x", "t1", "col", "42", "3.5", "FROM", "WHERE", "=", "+", ",", "*", "a_b"])
_plain_string = st.text(alphabet=st.sampled_from(list("ab;' \n\"`-*/$")), max_size=12).map(
    lambda s: "'" + s.replace("'", "''") + "'")
_line_comment = st.text(alphabet=st.sampled_from(list("ab;' \"/*$")), max_size=10).map(lambda s: f"-- {s}\n")
_block_comment = st.text(alphabet=st.sampled_from(list("ab;' \n\"-$")), max_size=10).map(lambda s: f"/* {s} */")
_dollar_body = st.text(alphabet=st.sampled_from(list("ab;' \n\"-*/")), max_size=12).map(lambda s: f"$body${s}$body$")
_parenthesised = st.lists(st.sampled_from(["1", ";", "'x;'", "a", ","]), max_size=5).map(
    lambda parts: "(" + " ".join(parts) + ")")


def _statement(extra: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    token = st.one_of(_word, _plain_string, _line_comment, _block_comment, _parenthesised, extra)
    return st.lists(token, min_size=1, max_size=8).map(lambda toks: "SELECT " + " ".join(toks))


def _normalise(statement: str) -> str:
    return statement.strip()


@settings(max_examples=200, deadline=None)
@given(st.lists(_statement(_dollar_body), min_size=1, max_size=6), st.sampled_from([";\n", " ;", ";"]))
def test_postgres_split_recovers_the_statements_that_were_joined(statements: list[str], sep: str) -> None:
    # a line comment would swallow a separator on its line: end statements with a newline first
    script = sep.join(s + "\n" for s in statements)
    assert split_sql(script, POSTGRES) == [_normalise(s) for s in statements]


@settings(max_examples=200, deadline=None)
@given(st.lists(_statement(st.sampled_from(["`a;b`", "# c;\n", "'x\\';y'"])), min_size=1, max_size=6))
def test_mysql_split_recovers_the_statements_that_were_joined(statements: list[str]) -> None:
    script = ";".join(s + "\n" for s in statements)
    assert split_sql(script, MYSQL) == [_normalise(s) for s in statements]


@settings(max_examples=200, deadline=None)
@given(st.lists(_statement(st.sampled_from(["[a;b]", "`c;d`"])), min_size=1, max_size=6))
def test_sqlite_split_recovers_the_statements_that_were_joined(statements: list[str]) -> None:
    script = ";\n".join(s + "\n" for s in statements)
    assert split_sql(script, SQLITE) == [_normalise(s) for s in statements]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab ;'\"`$-/*#()\n\\[]E")), max_size=60),
       st.sampled_from([ANSI, SQLITE, POSTGRES, MYSQL]))
def test_splitting_any_text_never_fails_and_never_invents_characters(text: str, options: SplitOptions) -> None:
    parts = split_sql(text, options)
    assert all(part and part == part.strip() for part in parts)
    position = 0
    for part in parts:  # every statement is a verbatim, in-order slice of the input
        found = text.find(part, position)
        assert found >= 0
        position = found + len(part)


@settings(max_examples=200, deadline=None)
@given(st.lists(_statement(_dollar_body), min_size=1, max_size=5))
def test_splitting_is_idempotent(statements: list[str]) -> None:
    once = split_sql(";\n".join(s + "\n" for s in statements), POSTGRES)
    assert split_sql("\n;\n".join(once), POSTGRES) == once
