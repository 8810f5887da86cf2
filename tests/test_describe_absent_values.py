"""Issue #23: ``describe`` must not print ``NULL`` for an absent default or an unspecified foreign-key action.

``default NULL`` and ``on delete NULL`` read as real settings (a column
defaulting to NULL, an action called NULL); absent means nothing to print.
Against a real SQLite file, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbkeeper.cli import cli
from dbkeeper.urls import DatabaseURL

sys.path.insert(0, str(Path(__file__).parent))
import test_migrations_helpers as h


@pytest.fixture(params=h.DIALECTS)
def db_url(request: pytest.FixtureRequest) -> DatabaseURL:
    url: DatabaseURL = request.getfixturevalue(f"dbkeeper_{request.param}_url")
    return url


def make_tables(url: DatabaseURL) -> None:
    conn = h.connect(url)
    try:
        conn.execute("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE kids (id INTEGER PRIMARY KEY, plain INTEGER, counted INTEGER DEFAULT 7, "
                     "parent_id INTEGER REFERENCES parents (id), "
                     "other_id INTEGER, FOREIGN KEY (other_id) REFERENCES parents (id) ON DELETE CASCADE)")
    finally:
        conn.disconnect()


def line_of(out: str, *words: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if all(w in line.split() for w in words))


def test_describe_prints_nothing_for_no_default_and_no_action(db_url: DatabaseURL) -> None:
    make_tables(db_url)
    result = CliRunner().invoke(cli, ["describe", "kids", "--db", db_url.render(hide_password=False)],
                                env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "NULL" not in out, out
    assert line_of(out, "plain", "INTEGER") == ["plain", "INTEGER", "yes", "no"]
    assert line_of(out, "counted", "INTEGER")[:4] == ["counted", "INTEGER", "yes", "7"]
    assert [w.upper() for w in line_of(out, "other_id", "parents(id)")][:3] == ["OTHER_ID", "PARENTS(ID)", "CASCADE"]
    no_action = line_of(out, "parent_id", "parents(id)")
    assert no_action[:2] == ["parent_id", "parents(id)"]
    assert set(no_action[2:]) <= {"RESTRICT", "NO", "ACTION"}, no_action  # nothing, or the server's true action
