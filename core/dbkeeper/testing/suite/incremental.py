"""Conformance: chainable dumps are deterministic, so incremental backups share their chunks.

Switched by ``incremental``. Unchanged records must keep their bytes from
one chainable dump to the next, so an incremental of an unchanged database
stores fewer chunks than its chainable full; an incremental taken after a
small change does too, and the chain restores to the changed state.
"""

from __future__ import annotations

from pathlib import Path

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.suite._base import ConformanceBase
from dbkeeper.urls import DatabaseURL

#: Chunk size of the chain's full backup: small, so a few hundred records span many chunks.
SMALL_CHUNKS = 4096


class IncrementalConformance(ConformanceBase):
    """What ``Capabilities.incremental`` promises to the backup chains."""

    def test_an_incremental_of_unchanged_data_reuses_the_chainable_full(self, connection: DatabaseConnection,
                                                                        database_url: DatabaseURL,
                                                                        tmp_path: Path) -> None:
        """Unchanged records keep their bytes from one chainable dump to the next, so their chunks are shared.

        (A header, such as ``pg_dump``'s schema archive with its timestamp, may differ: so "fewer", not "none".)
        """
        from dbkeeper.backup import BackupManager

        self.requires(connection, "incremental")
        self.requires_persistent(database_url)
        self.seed_data(connection, 400)
        manager = BackupManager(tmp_path / "ws", database_url)
        full = manager.create_backup("conformance", compression="zstd", chainable=True, chunk_size=SMALL_CHUNKS)
        again = manager.create_backup("conformance", backup_type="incremental", compression="zstd")
        assert full.success and again.success, (full.error_message, again.error_message)
        base_meta = manager.get_backup(full.backup_id).metadata
        meta = manager.get_backup(again.backup_id).metadata
        assert base_meta["chainable"] is True, base_meta
        assert base_meta["stored_chunks"] > 2, base_meta  # small chunks: the records span many of them
        assert meta["stored_chunks"] < base_meta["stored_chunks"], (meta, base_meta)

    def test_an_incremental_after_a_small_change_stores_less_than_its_base_and_restores(
            self, connection: DatabaseConnection, database_url: DatabaseURL, restore_target_url: DatabaseURL,
            tmp_path: Path) -> None:
        from dbkeeper.backup import BackupManager

        self.requires(connection, "incremental")
        self.requires_persistent(database_url)
        self.requires(connection, "restore")
        self.seed_data(connection, 400)
        manager = BackupManager(tmp_path / "ws", database_url)
        full = manager.create_backup("conformance", compression="zstd", chainable=True, chunk_size=SMALL_CHUNKS)
        assert full.success, full.error_message
        self.change_data(connection)
        incremental = manager.create_backup("conformance", backup_type="incremental", compression="zstd")
        assert incremental.success, incremental.error_message
        base_meta = manager.get_backup(full.backup_id).metadata
        meta = manager.get_backup(incremental.backup_id).metadata
        assert base_meta["stored_chunks"] > 2, base_meta  # small chunks: a few records change only some of them
        assert meta["stored_chunks"] < base_meta["stored_chunks"], (meta, base_meta)
        manager.restore_backup(incremental.backup_id, restore_target_url)
        with DatabaseConnection.from_url(restore_target_url, name="conformance-state", pool_size=1) as target:
            assert self.data_state(target) == self.data_state(connection)
