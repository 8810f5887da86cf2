"""``dbkeeper migrate lint`` offline: the corpus of good and bad migrations per dialect, versions, disabling, CLI.

Each corpus file (tests/lint_corpus/<dialect>/*.sql) starts with
``-- expect: rule@statement ...``: exactly the findings the dialect's rules
must report for it, judged without a database. The PostgreSQL rules that
squawk shares are checked against squawk itself in
``test_migrate_lint_squawk.py``; the online rules (the server answering) in
``test_migrate_lint_online.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.cli.commands.migrate import migrate
from dbkeeper.engine.plugins import get_registry
from dbkeeper.errors import ConfigurationError
from dbkeeper.migrations.lint import disabled_rules, lint_migrations, rules_for
from dbkeeper.migrations.lint.api import lint_directory
from dbkeeper.migrations.model import Migration

CORPUS = Path(__file__).parent / "lint_corpus"
FILES = sorted(CORPUS.glob("*/*.sql"))


def expected(path: Path) -> set[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("-- expect:"), f"{path} lacks its expect line"
    return set(first.removeprefix("-- expect:").split())


def lint_text(dialect: str, sql: str, target: str | None = None) -> set[str]:
    rules = rules_for(get_registry().get_dialect(dialect))
    if target:
        rules.assume_target(target)
    report = lint_migrations([Migration(id="1", name="x", sql=sql)], rules)
    return {f"{f.rule}@{f.statement_index}" for f in report.findings}


def test_the_corpus_covers_good_and_bad_migrations_of_every_shipped_dialect() -> None:
    for dialect in ("postgres", "mysql", "sqlite"):
        names = [p.name for p in FILES if p.parent.name == dialect]
        assert any(n.startswith("good_") for n in names) and any(n.startswith("bad_") for n in names)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_corpus_file_gives_exactly_its_expected_findings(path: Path) -> None:
    assert lint_text(path.parent.name, path.read_text()) == expected(path)


def test_every_finding_carries_its_reason_and_rewrite_and_location(tmp_path: Path) -> None:
    (tmp_path / "0001_idx.up.sql").write_text("-- first line\n\nCREATE INDEX i ON orders (a);\n")
    report = lint_directory(tmp_path, dialect="postgres")
    index = next(f for f in report.findings if f.rule == "require-concurrent-index-creation")
    assert index.line == 1 and index.statement_index == 1 and index.migration_id == "0001"
    assert index.file.endswith("0001_idx.up.sql")
    assert "SHARE lock" in index.reason and "CONCURRENTLY" in index.rewrite
    assert report.to_dict()["findings"][0]["reason"]


def test_postgres_rules_follow_the_target_version() -> None:
    constant = "SET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN s text DEFAULT 'x';"
    assert lint_text("postgres", constant, "10") == {"adding-field-with-default@2"}
    assert lint_text("postgres", constant, "11") == set()
    enum = "ALTER TYPE mood ADD VALUE 'meh';"
    assert lint_text("postgres", enum, "11.4") == {"alter-type-in-transaction@1"}
    assert lint_text("postgres", enum, "12") == set()


@pytest.mark.parametrize(("target", "positioned", "last"), [
    ("mysql-8.0.11", "alter-table-rebuild", "alter-table-rebuild"),
    ("mysql-8.0.12", "alter-table-rebuild", None),
    ("mysql-8.0.29", None, None),
    ("mariadb-10.2", "alter-table-rebuild", "alter-table-rebuild"),
    ("mariadb-10.3", "alter-table-rebuild", None),
    ("mariadb-10.4", None, None),
])
def test_mysql_add_column_algorithm_follows_the_server_version(target: str, positioned: str | None,
                                                               last: str | None) -> None:
    def rebuilds(sql: str) -> str | None:
        found = lint_text("mysql", sql + ", ALGORITHM=INPLACE, LOCK=NONE", target)
        return "alter-table-rebuild" if "alter-table-rebuild@1" in found else None

    assert rebuilds("ALTER TABLE t ADD COLUMN c INT AFTER a") == positioned
    assert rebuilds("ALTER TABLE t ADD COLUMN c INT") == last


def test_sqlite_rules_follow_the_library_version() -> None:
    assert lint_text("sqlite", "ALTER TABLE t DROP COLUMN c;", "3.34") == {"unsupported-alter@1"}
    assert lint_text("sqlite", "ALTER TABLE t DROP COLUMN c;", "3.35") == {"drop-column-rewrite@1"}
    assert lint_text("sqlite", "ALTER TABLE t RENAME COLUMN a TO b;", "3.24") == {"unsupported-alter@1"}


def test_disable_comments_whole_file_single_statement_and_all() -> None:
    assert disabled_rules("-- dbkeeper:lint-disable a-rule, b-rule\nSELECT 1") == {"a-rule", "b-rule"}
    assert disabled_rules("-- dbkeeper:lint-disable\nSELECT 1") == {"*"}
    assert disabled_rules("-- dbkeeper:lint-disable-next a-rule\nSELECT 1") == set()
    sql = ("SET lock_timeout = '1s';\n-- dbkeeper:lint-disable-next renaming-column\n"
           "ALTER TABLE t RENAME COLUMN a TO b;\nALTER TABLE t RENAME COLUMN c TO d;")
    assert lint_text("postgres", sql) == {"renaming-column@3"}
    assert lint_text("postgres", "-- dbkeeper:lint-disable\nCREATE INDEX i ON t (a);") == set()


def test_a_dialect_without_lint_rules_finds_nothing(tmp_path: Path) -> None:
    from dbkeeper.migrations.lint.rules import LintRules

    rules = rules_for(get_registry().get_dialect("redis"))
    assert type(rules) is LintRules


def test_offline_lint_needs_a_dialect_and_a_readable_version(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--dialect"):
        lint_directory(tmp_path)
    with pytest.raises(ConfigurationError, match="not a PostgreSQL version"):
        lint_directory(tmp_path, dialect="postgres", target_version="latest")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(migrate, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_exit_codes_json_and_fail_on(tmp_path: Path) -> None:
    (tmp_path / "0001_bad.up.sql").write_text((CORPUS / "postgres" / "bad_index.sql").read_text())
    (tmp_path / "0002_good.up.sql").write_text((CORPUS / "postgres" / "good_index_concurrently.sql").read_text())
    code, out, _ = invoke("lint", "--dir", str(tmp_path), "--dialect", "postgres", "--json")
    data = json.loads(out)
    assert code == 1 and data["migrations"] == ["0001", "0002"] and data["online"] is False
    assert {f["rule"] for f in data["findings"]} == {"require-concurrent-index-creation", "require-lock-timeout"}
    assert data["counts"] == {"info": 0, "warning": 2, "error": 0}
    assert invoke("lint", "--dir", str(tmp_path), "--dialect", "postgres", "--fail-on", "error")[0] == 0
    assert invoke("lint", "--dir", str(tmp_path), "--dialect", "postgres", "--fail-on", "never")[0] == 0
    code, out, _ = invoke("lint", "--dir", str(tmp_path), "--dialect", "postgres")
    assert code == 1 and "require-concurrent-index-creation" in out and "fix: CREATE INDEX CONCURRENTLY" in out
    assert "2 migration(s) linted for PostgreSQL" in out
    (tmp_path / "0001_bad.up.sql").unlink()
    code, out, _ = invoke("lint", "--dir", str(tmp_path), "--dialect", "postgres")
    assert code == 0 and "no findings" in out


def test_cli_refuses_dialect_together_with_db_and_a_bad_version(tmp_path: Path) -> None:
    code, _, err = invoke("lint", "--dir", str(tmp_path), "--dialect", "postgres", "--db", "sqlite:///x.db")
    assert code == 2 and "--dialect lints offline" in err
    code, _, err = invoke("lint", "--dir", str(tmp_path), "--dialect", "sqlite", "--target-version", "x")
    assert code == 2 and "not an SQLite version" in err
