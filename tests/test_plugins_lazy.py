"""Lazy plugin loading: a command imports only the plugin (and driver) of its URL's scheme."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

_PROBE = textwrap.dedent("""
    import json, sys
    from dbkeeper.engine.connection import DatabaseConnection
    from dbkeeper.engine.plugins import get_registry

    with DatabaseConnection.from_url(sys.argv[1]) as conn:
        conn.execute("SELECT 1 AS x")
    before = sorted(m for m in sys.modules if m.split(".")[0] in
                    {"psycopg", "pymysql", "dbkeeper_postgres", "dbkeeper_mysql", "dbkeeper_sqlite"})
    listed = {p.name: p.status for p in get_registry().plugins()}
    print(json.dumps({"before": before, "listed": listed}))
""")


def _probe(url: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _PROBE, url], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_sqlite_connection_imports_no_server_plugin_or_driver(tmp_path: Path) -> None:
    result = _probe(f"sqlite:///{tmp_path / 'lazy.db'}")
    before = result["before"]
    assert isinstance(before, list)
    assert "dbkeeper_sqlite" in before
    assert not [m for m in before if m.split(".")[0] in {"psycopg", "pymysql", "dbkeeper_postgres",
                                                         "dbkeeper_mysql"}], before
    # listing still loads and reports every installed plugin
    listed = result["listed"]
    assert isinstance(listed, dict)
    assert listed.get("postgres") == "loaded" and listed.get("mysql") == "loaded"
