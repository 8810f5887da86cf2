"""Drop a restore's set-aside copy after the command has answered (``python -m dbkeeper_postgres._drop_aside``).

Why a detached child: right after a load, ``DROP DATABASE`` of the old copy
waits for the freshly written pages and took 0.3-1.4 s on the benchmark
machine, time a user waiting on ``dbkeeper backup restore --replace``
during an outage gains nothing from: the new data is already committed
under the target's name when the drop starts.

The child is started when the load starts (its interpreter start-up and
connection overlap the load): the admin URL comes on its stdin (never in
argv or the environment, where a password would show); it connects, under
the restore's ``application_name`` (``dbkeeper-restore-<restore pid>``),
says ``ready`` and waits for a second line: the aside name. End of input
without a name (the restore failed, or was killed) means nothing to do.
Given a name, it waits for the restore's advisory lock on it (released when
the restore is done with it), takes it and drops the copy.

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
from typing import IO, Any

from dbkeeper.child_env import child_environment
from dbkeeper.urls import DatabaseURL

#: Started children, kept referenced so no ``Popen`` is collected (and warns) while its child still runs.
_STARTED: list[subprocess.Popen[bytes]] = []


class Dropper:
    """The parent's side: :meth:`start` before the load, :meth:`hand_over` after the swap, or :meth:`cancel`."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None

    def start(self, url: DatabaseURL) -> None:
        """Start the child (it connects while the load runs); a failure to start only means no hand-over."""
        request = json.dumps({"url": url.render(hide_password=False), "pid": os.getpid()}) + "\n"
        env = child_environment({"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
        try:
            self._child = subprocess.Popen([sys.executable, "-m", "dbkeeper_postgres._drop_aside"],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=subprocess.DEVNULL, env=env, start_new_session=True,
                                           close_fds=True)
            _STARTED.append(self._child)
            assert self._child.stdin is not None
            self._child.stdin.write(request.encode())
            self._child.stdin.flush()
        except OSError:
            self.cancel()

    def hand_over(self, name: str) -> bool:
        """Give the child the aside name once it is connected; ``False`` (drop it yourself) when it is not."""
        child = self._child
        if child is None or child.stdin is None or child.stdout is None:
            return False
        try:
            if child.stdout.readline().strip() != b"ready":
                self.cancel()
                return False
            child.stdin.write(name.encode() + b"\n")
            child.stdin.close()
            child.stdout.close()
        except OSError:
            self.cancel()
            return False
        self._child = None
        return True

    def cancel(self) -> None:
        """Nothing to drop: close the child's input (it exits without touching anything)."""
        child, self._child = self._child, None
        if child is None:
            return
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def _serve(stdin: IO[str], stdout: IO[str]) -> None:
    from dbkeeper_postgres._admin import admin_connection
    from dbkeeper_postgres._swap import drop, hold, is_leftover_name

    request: dict[str, Any] = json.loads(stdin.readline())
    url = DatabaseURL.parse(request["url"])
    pid = request.get("pid")
    with admin_connection(url, int(pid) if pid is not None else None) as admin:
        stdout.write("ready\n")
        stdout.flush()
        name = stdin.readline().strip()
        if not name:
            return
        if not is_leftover_name(url.database or "", name):
            raise SystemExit(f"refusing to drop {name!r}: not an aside copy of the target")
        hold(admin, name)
        drop(admin, name)


def main() -> None:
    """Serve one hand-over on stdin/stdout (see the module doc)."""
    try:
        _serve(sys.stdin, sys.stdout)
    except BrokenPipeError:
        pass


if __name__ == "__main__":
    main()
