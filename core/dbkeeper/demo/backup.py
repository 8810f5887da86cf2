"""The backup steps of ``dbkeeper demo``: back up, verify, restore; then chains, retention and key rotation.

Kept here so the demo shows exactly what the API does; the lead's demo calls
:func:`run_backup_demo` with the demo's own directory and database.
"""

from __future__ import annotations

import pathlib
import secrets
from collections.abc import Callable

from dbkeeper.urls import DatabaseURL


def run_backup_demo(directory: pathlib.Path, database_url: str, say: Callable[[str], None]) -> None:
    """Back up ``database_url`` into ``directory/workspace``, verify it deeply, restore it into a new file."""
    from dbkeeper.backup.manager import BackupManager
    from dbkeeper.engine.connection import DatabaseConnection

    url = DatabaseURL.parse(database_url)
    manager = BackupManager(workspace_dir=directory / "workspace", database_url=url)
    name = url.database and pathlib.Path(url.database).stem if url.scheme == "sqlite" else url.database
    result = manager.create_backup(name or "demo", compression="zstd")
    if not result.success:
        say(f"backup failed: {result.error_message}")
        return
    say(f"backup {result.backup_id}: {result.file_size_mb} MB, zstd, {result.duration:.2f} s, {result.checksum}")
    for level in ("quick", "full", "deep"):
        verdict = manager.verify_backup(result.backup_id, level)
        say(f"verify {level}: {'ok' if verdict.success else 'FAILED: ' + str(verdict.error_message)}")
    if url.scheme == "sqlite":
        target = DatabaseURL(scheme="sqlite", database=str(directory / "restored.db"))
        if pathlib.Path(target.database or "").exists():
            pathlib.Path(target.database or "").unlink()
        manager.restore_backup(result.backup_id, target)
        with DatabaseConnection.from_url(target) as conn:
            tables = conn.dialect.table_names(conn)
        say(f"restored into {target.database}: tables {', '.join(tables) or '(none)'}")
    listed = manager.list_backups()
    say(f"catalog: {len(listed)} backup(s) in {manager.catalog.path}")


#: Rows of the chain demo's table; each step changes 1 % of them.
CHAIN_ROWS = 200_000


def run_chain_demo(directory: pathlib.Path, say: Callable[[str], None]) -> None:
    """Incremental and differential backups, chain-aware delete and prune, pinning and key rotation.

    On a database of its own (``directory/chain.db``, rebuilt each run), so
    the demo's main database is not changed: a full backup, an incremental
    after updating 1 % of the rows, another after appending 1 %, and a
    differential; each restored into a new file must equal the database as
    it was when that backup was taken. Then deleting a parent is refused,
    ``prune`` keeps the newest backup, a pinned one and what they depend on,
    and an encrypted chain is re-keyed: the new key restores it, the old one
    is refused. Any other outcome raises :class:`BackupError`.
    """
    import shutil

    from dbkeeper.backup.crypto import EncryptionSettings
    from dbkeeper.backup.errors import BackupError, DependentBackupsError, EncryptionError
    from dbkeeper.backup.manager import BackupManager
    from dbkeeper.backup.tools import write_private
    from dbkeeper.engine.connection import DatabaseConnection

    database = directory / "chain.db"
    workspace = directory / "chain-workspace"
    for path in (database, *directory.glob("chain-restored-*.db"), *directory.glob("chain-state-*.db"),
                 *directory.glob("chain-*.key")):
        path.unlink(missing_ok=True)
    shutil.rmtree(workspace, ignore_errors=True)
    url = DatabaseURL(scheme="sqlite", database=str(database))
    with DatabaseConnection.from_url(url, record_queries=False) as conn:
        conn.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT, value REAL, note TEXT)")
        conn.bulk_insert("readings", [(i, f"sensor-{i % 50}", i / 7, f"reading {i}") for i in range(CHAIN_ROWS)],
                         ["id", "sensor", "value", "note"])
    manager = BackupManager(workspace_dir=workspace, database_url=url)
    change = CHAIN_ROWS // 100

    def snapshot(name: str) -> pathlib.Path:
        """A copy of the database as it is now (``VACUUM INTO``), to compare restores with."""
        copy = directory / f"chain-state-{name}.db"
        with DatabaseConnection.from_url(url, record_queries=False) as c:
            c.execute("VACUUM INTO ?", (str(copy),))
        return copy

    def same(restored: DatabaseURL, state: pathlib.Path) -> bool:
        """Whether ``restored`` holds exactly the rows of ``state``: as many rows, each equal to its key's there."""
        with DatabaseConnection.from_url(restored, record_queries=False, connection_pool_size=1) as c:
            c.execute("ATTACH DATABASE ? AS state", (str(state),))
            row = c.execute(
                "SELECT (SELECT COUNT(*) FROM readings) AS here, (SELECT COUNT(*) FROM state.readings) AS there, "
                "(SELECT COUNT(*) FROM readings r JOIN state.readings s ON s.id = r.id AND s.sensor IS r.sensor "
                "AND s.value IS r.value AND s.note IS r.note) AS equal").rows[0]
        return bool(row["here"] == row["there"] == row["equal"])

    def back_up(kind: str, encryption: EncryptionSettings | None = None) -> str:
        result = manager.create_backup("chain", backup_type=kind, compression="zstd", encryption=encryption)
        if not result.success:
            raise BackupError(f"demo: the {kind} backup failed: {result.error_message}")
        return result.backup_id

    def run(sql: str) -> None:
        with DatabaseConnection.from_url(url, record_queries=False) as c:
            c.execute(sql)

    states: dict[str, pathlib.Path] = {}
    full = back_up("full")
    states[full] = snapshot("full")
    full_size = manager.get_backup(full).metadata["size_bytes"]
    say(f"full {full}: {CHAIN_ROWS:,} rows, {full_size / 1024:,.0f} KiB")
    steps = [("incremental", f"after updating {change:,} rows in one key range",
              f"UPDATE readings SET value = value + 1, note = note || ' (fixed)' WHERE id BETWEEN 50000 AND "
              f"{50000 + change - 1}"),
             ("incremental", f"after appending {change:,} rows",
              f"INSERT INTO readings SELECT id + {CHAIN_ROWS}, sensor, value, 'appended' FROM readings "
              f"WHERE id < {change}"),
             ("differential", "every change since the full", None)]
    for kind, what, sql in steps:
        if sql:
            run(sql)
        backup_id = back_up(kind)
        states[backup_id] = snapshot(str(len(states)))
        meta = manager.get_backup(backup_id).metadata
        say(f"{kind} {backup_id} ({what}): {meta['size_bytes'] / 1024:,.0f} KiB "
            f"({meta['size_bytes'] / full_size:.1%} of the full), {meta['stored_chunks']} of {meta['chunks']} "
            "chunks stored, the rest referenced")
    for n, (backup_id, state) in enumerate(states.items()):
        target = DatabaseURL(scheme="sqlite", database=str(directory / f"chain-restored-{n}.db"))
        manager.restore_backup(backup_id, target)
        if not same(target, state):
            raise BackupError(f"demo: restoring {backup_id} did not give the database as it was at that backup")
    say(f"restored all {len(states)} backups (each resolving its chain): each equals the database at its time")

    try:
        manager.delete_backup(full)
        raise BackupError("demo: deleting the full backup its incrementals need was not refused")
    except DependentBackupsError as exc:
        say(f"delete {full} refused: {str(exc).split(';')[0]}")
    first_incremental = list(states)[1]
    manager.pin(first_incremental)
    pruned = manager.prune("chain", keep_last=1)
    kept = ", ".join(f"{b} ({' + '.join(why)})" for b, why in pruned.kept.items())
    say(f"prune keep_last=1 with {first_incremental} pinned: deleted {', '.join(pruned.deleted) or 'nothing'}; "
        f"kept {kept}")
    if set(pruned.kept) != {full, first_incremental, list(states)[-1]}:
        raise BackupError(f"demo: prune kept {sorted(pruned.kept)}")

    old_key = write_private(directory / "chain-old.key", secrets.token_hex(32) + "\n")
    new_key = write_private(directory / "chain-new.key", secrets.token_hex(32) + "\n")
    old, new = EncryptionSettings(key_file=old_key), EncryptionSettings(key_file=new_key)
    run(f"UPDATE readings SET note = 'encrypted chain' WHERE id < {change}")
    chain = [back_up("full", encryption=old)]
    run(f"DELETE FROM readings WHERE id >= {CHAIN_ROWS}")
    chain.append(back_up("incremental", encryption=old))
    expected = snapshot("encrypted")
    manager.rekey(chain, old, new)
    target = DatabaseURL(scheme="sqlite", database=str(directory / "chain-restored-rekeyed.db"))
    try:
        manager.restore_backup(chain[-1], target, encryption=old)
        raise BackupError("demo: the old key still opened the re-keyed chain")
    except EncryptionError:
        pass
    manager.restore_backup(chain[-1], target, encryption=new)
    if not same(target, expected):
        raise BackupError("demo: the re-keyed chain did not restore the database as it was")
    say(f"encrypted chain {' <- '.join(chain)} re-keyed (data not rewritten): the new key restores it, "
        "the old one is refused")


#: The restore a killed child runs: slowed by its progress callback, so it is killed half-way.
_SLOW_RESTORE = """
import sys, time
from dbkeeper.backup.manager import BackupManager
def slow(done):
    print("progress", flush=True)
    time.sleep(0.05)
BackupManager(sys.argv[1]).restore_backup(sys.argv[2], sys.argv[3], replace=True, progress=slow)
"""


def run_restore_demo(directory: pathlib.Path, database_url: str, say: Callable[[str], None]) -> None:
    """Restores that never leave a target half-written: refusal, ``--replace``, a SIGKILL and its leftovers.

    On databases of their own (``directory/restore-*.db``, rebuilt each run),
    of the demo database's file dialect: a restore into a non-empty target is
    refused and changes nothing; ``replace=True`` (``backup restore
    --replace``) swaps the target for the restored copy; a restore killed
    half-way (a child process, SIGKILL) leaves the target whole and its
    scratch copy behind, which :mod:`dbkeeper.backup.leftovers` (``backup
    leftovers [--remove]``) names and removes. Any other outcome raises
    :class:`BackupError`.
    """
    import os
    import shutil
    import signal
    import subprocess
    import sys

    from dbkeeper.backup import leftovers
    from dbkeeper.backup.errors import BackupError, RestoreTargetError
    from dbkeeper.backup.manager import BackupManager
    from dbkeeper.engine.connection import DatabaseConnection

    scheme = DatabaseURL.parse(database_url).scheme
    source, target = directory / "restore-source.db", directory / "restore-target.db"
    workspace = directory / "restore-workspace"
    for path in (*directory.glob("restore-*.db*"), *directory.glob(f".{target.name}.*")):
        path.unlink(missing_ok=True)
    shutil.rmtree(workspace, ignore_errors=True)
    source_url = DatabaseURL(scheme=scheme, database=str(source))
    target_url = DatabaseURL(scheme=scheme, database=str(target))

    def rows(url: DatabaseURL) -> int:
        with DatabaseConnection.from_url(url, record_queries=False) as c:
            return int(c.execute("SELECT COUNT(*) AS n FROM t").rows[0]["n"])

    for url, count in ((source_url, 6000), (target_url, 3)):
        with DatabaseConnection.from_url(url, record_queries=False) as conn:
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
            conn.bulk_insert("t", [(i, os.urandom(512)) for i in range(count)], ["id", "data"])
    manager = BackupManager(workspace_dir=workspace, database_url=source_url)
    backup = manager.create_backup("restore-source", compression="zstd", chunk_size=64 << 10)
    if not backup.success:
        raise BackupError(f"demo: the backup failed: {backup.error_message}")

    try:
        manager.restore_backup(backup.backup_id, target_url)
        raise BackupError("demo: a restore into a non-empty target was not refused")
    except RestoreTargetError as exc:
        say(f"restore into {target.name} (3 rows) refused: {str(exc).split(';')[0]}")
    if rows(target_url) != 3:
        raise BackupError("demo: the refused restore changed its target")
    manager.restore_backup(backup.backup_id, target_url, replace=True)
    say(f"restore --replace: {target.name} now holds the backup's {rows(target_url):,} rows")

    with DatabaseConnection.from_url(target_url, record_queries=False) as conn:
        conn.execute("DELETE FROM t WHERE id >= 3")  # the target's own data again, so a torn restore would show
    child = subprocess.Popen([sys.executable, "-c", _SLOW_RESTORE, str(workspace), backup.backup_id,
                              target_url.render(hide_password=False)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    started = all(child.stdout.readline() for _ in range(3))
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    if not started:
        raise BackupError("demo: the restore to kill ended before it was half-way")
    found = leftovers.report(workspace)
    if len(found) != 1 or not found[0].names or rows(target_url) != 3:
        raise BackupError(f"demo: a killed restore left {found} and {rows(target_url)} rows in its target")
    say(f"restore --replace SIGKILLed half-way: {target.name} still holds exactly its own {rows(target_url)} rows; "
        f"backup list warns: {found[0].message()}")
    for item in found:
        leftovers.remove(item.target, item.names)
        leftovers.forget(workspace, item.target)
    if leftovers.report(workspace) or any(pathlib.Path(name).exists() for name in found[0].names):
        raise BackupError("demo: the leftovers were not removed")
    say(f"backup leftovers --remove: removed {', '.join(pathlib.Path(n).name for n in found[0].names)}; "
        "nothing is left")
