"""dbkeeper's pytest plugin is inert in a user's own test run until a dbkeeper fixture is asked for.

The plugin loads through the ``pytest11`` entry point in every pytest run of
every project that has dbkeeper installed, so loading it must change nothing:
no workspace variable, no dialect, driver or server module imported. The
first dbkeeper fixture gives the run a temporary workspace of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

USER_TESTS = '''
import os
import sys


def test_a_plain_test_sees_nothing_of_dbkeeper():
    assert "DBKEEPER_WORKSPACE" not in os.environ
    loaded = sorted(m for m in sys.modules if m.startswith(("dbkeeper.", "dbkeeper_", "psycopg", "pymysql", "redis")))
    # the package face (its lazy export table and version) and the plugin module itself, nothing else
    assert set(loaded) <= {"dbkeeper._exports", "dbkeeper._version", "dbkeeper.testing",
                           "dbkeeper.testing.pytest_plugin"}, loaded


def test_zz_a_dbkeeper_fixture_gets_a_workspace_of_its_own(dbkeeper_sqlite_url):
    workspace = os.environ["DBKEEPER_WORKSPACE"]
    assert "dbkeeper-test-workspace-" in workspace and os.path.isdir(workspace)
    assert dbkeeper_sqlite_url.scheme == "sqlite"
'''


def test_the_plugin_changes_nothing_until_a_fixture_is_requested(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    env = {k: v for k, v in os.environ.items() if k != "DBKEEPER_WORKSPACE" and not k.startswith("PYTEST")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_user.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
