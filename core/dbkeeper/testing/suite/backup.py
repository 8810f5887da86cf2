"""Conformance: a backup restores to an equal database, and a restore never overwrites by surprise.

Switched by ``dump`` and ``restore`` (``Capabilities.backups``). The round
trip goes through :class:`~dbkeeper.backup.BackupManager` with compression
and encryption, so it proves the dialect's ``dump`` and ``restore`` work with
the core's archive; the refusal test proves a target holding data is refused
with :class:`~dbkeeper.backup.RestoreTargetError` and replaced only when asked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.testing.suite._base import ConformanceBase
from dbkeeper.urls import DatabaseURL

#: A key derivation cheap enough for tests (the real defaults take a second on purpose).
FAST_KDF = {"memory_kib": 1024, "iterations": 1}
PASSPHRASE = "conformance pass phrase"


def _state_of(suite: ConformanceBase, url: DatabaseURL) -> dict[str, object]:
    with DatabaseConnection.from_url(url, name="conformance-state", pool_size=1) as conn:
        return suite.data_state(conn)


class BackupConformance(ConformanceBase):
    """Dump → restore round trips and the restore's refusal of a non-empty target."""

    @pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
    def test_backup_round_trip_restores_an_equal_database(self, connection: DatabaseConnection,
                                                          database_url: DatabaseURL,
                                                          restore_target_url: DatabaseURL, tmp_path: Path,
                                                          encrypted: bool) -> None:
        from dbkeeper.backup import BackupManager, EncryptionSettings

        self.requires(connection, "backups")
        self.requires_persistent(database_url)
        self.seed_data(connection, 120)
        enc = EncryptionSettings(passphrase=PASSPHRASE, kdf_params=FAST_KDF) if encrypted else None
        manager = BackupManager(tmp_path / "ws", database_url)
        result = manager.create_backup("conformance", compression="zstd", encryption=enc)
        assert result.success, result.error_message
        manager.restore_backup(result.backup_id, restore_target_url, encryption=enc)
        assert _state_of(self, restore_target_url) == self.data_state(connection)

    def test_restore_refuses_a_non_empty_target_then_replaces_it_when_asked(
            self, connection: DatabaseConnection, database_url: DatabaseURL, restore_target_url: DatabaseURL,
            tmp_path: Path) -> None:
        from dbkeeper.backup import BackupManager, RestoreTargetError

        self.requires(connection, "backups")
        self.requires_persistent(database_url)
        self.seed_data(connection, 50)
        with DatabaseConnection.from_url(restore_target_url, name="conformance-target", pool_size=1) as target:
            self.seed_data(target, 5)
            before = self.data_state(target)
        manager = BackupManager(tmp_path / "ws", database_url)
        result = manager.create_backup("conformance", compression="zstd")
        assert result.success, result.error_message
        with pytest.raises(RestoreTargetError):
            manager.restore_backup(result.backup_id, restore_target_url)
        assert _state_of(self, restore_target_url) == before
        manager.restore_backup(result.backup_id, restore_target_url, replace=True)
        assert _state_of(self, restore_target_url) == self.data_state(connection)
