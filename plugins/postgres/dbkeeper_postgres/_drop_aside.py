"""Drop a restore's set-aside copy after the command has answered (``python -m dbkeeper_postgres._drop_aside``).

Why a detached child: right after a load, ``DROP DATABASE`` of the old copy
waits for the freshly written pages and took 0.3-1.4 s on the benchmark
machine, time a user waiting on ``dbkeeper backup restore --replace``
during an outage gains nothing from: the new data is already committed
under the target's name when the drop starts. The restoring process starts
this module with the admin URL on stdin (never in argv or the environment,
where a password would show), then exits; the child waits for the
restore's advisory lock on the aside name (the restoring session releases
it when it ends), takes it, and drops the copy.

Nothing can be lost: the aside copy holds only the old data, which the
command replaced on purpose. If the child fails or is killed, the copy stays
under its ``<target>_dbk_aside_<hex>`` name, and the next restore and
``dbkeeper backup leftovers`` name it, with the command that removes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from dbkeeper.child_env import child_environment
from dbkeeper.urls import DatabaseURL

#: Started children, kept referenced so no ``Popen`` is collected (and warns) while its child still runs.
_STARTED: list[subprocess.Popen[bytes]] = []


def start(url: DatabaseURL, name: str) -> bool:
    """Start the detached drop of ``name`` on ``url``'s server; ``False`` when no child could be started."""
    request = json.dumps({"url": url.render(hide_password=False), "name": name}).encode()
    env = child_environment({"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    try:
        child = subprocess.Popen([sys.executable, "-m", "dbkeeper_postgres._drop_aside"], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                 start_new_session=True, close_fds=True)
    except OSError:
        return False
    _STARTED.append(child)
    assert child.stdin is not None
    try:
        child.stdin.write(request)
        child.stdin.close()
    except OSError:
        return False
    return True


def main() -> None:
    """Read ``{"url": ..., "name": ...}`` from stdin; wait for the name's lock; drop the database."""
    from dbkeeper_postgres._swap import drop, hold, is_leftover_name
    from dbkeeper_postgres.dump import admin_connection

    request: dict[str, Any] = json.loads(sys.stdin.read())
    url = DatabaseURL.parse(request["url"])
    name = str(request["name"])
    if not is_leftover_name(url.database or "", name):
        raise SystemExit(f"refusing to drop {name!r}: not an aside copy of the target")
    with admin_connection(url) as admin:
        hold(admin, name)
        drop(admin, name)


if __name__ == "__main__":
    main()
