"""Helpers for tests that compare a MySQL/MariaDB database with what the real client tools see."""

from __future__ import annotations

import subprocess

from dbkeeper.child_env import child_environment
from dbkeeper.urls import DatabaseURL
from dbkeeper_mysql.dump import defaults_file


def client_dump(url: DatabaseURL) -> str:
    """What the real ``mariadb-dump`` sees: schema, routines, triggers and rows in key order, one per line.

    The database's own name reads ``DB``, so dumps of a source and of a
    restored copy compare equal.
    """
    with defaults_file(url) as cnf:
        done = subprocess.run(["mariadb-dump", f"--defaults-extra-file={cnf}", "--skip-dump-date",
                               "--skip-comments", "--order-by-primary", "--hex-blob", "--skip-extended-insert",
                               "--routines", "--triggers", "--", url.database or ""],
                               check=True, capture_output=True, env=child_environment())
    out = done.stdout.decode("utf-8", "backslashreplace")
    return out.replace(f"`{url.database}`", "`DB`")
