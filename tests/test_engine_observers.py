"""The engine finds the monitoring recorder through the ``dbkeeper.observers`` entry point, not an import."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from dbkeeper.engine import observers
from dbkeeper.engine.connection import DatabaseConnection


def test_the_core_registers_the_recorder_as_an_observer() -> None:
    names = {ep.name: ep.value for ep in entry_points(group=observers.ENTRY_POINT_GROUP)}
    assert names.get("recorder") == "dbkeeper.monitoring.recorder:recorder_for"


def test_a_connection_records_into_the_observer_it_was_given(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from dbkeeper.monitoring import recorder as recorder_module

    monkeypatch.setenv("DBKEEPER_MONITORING", "1")
    conn = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'obs.db'}").connect()
    try:
        assert conn._recorder is recorder_module.get_recorder()
        assert conn._sink is conn._recorder.buffer_for(conn.name)
    finally:
        conn.disconnect()
    assert conn._sink is None


def test_recording_switched_off_gives_no_observer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBKEEPER_MONITORING", "0")
    conn = DatabaseConnection.from_url(f"sqlite:///{tmp_path / 'off.db'}").connect()
    try:
        assert conn._recorder is None and conn._sink is None
    finally:
        conn.disconnect()
