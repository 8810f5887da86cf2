"""The retention policy (property tests), prune, pin/unpin, rekey, and their CLI commands."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dbkeeper.backup import BackupManager, EncryptionSettings
from dbkeeper.backup.errors import BackupError, ChainError, EncryptionError
from dbkeeper.backup.retention import BackupNode, dependents_first, plan_retention
from dbkeeper.cli.commands.backup import backup

FAST_KDF = {"kdf": "scrypt", "kdf_params": {"n": 2**10, "r": 8, "p": 1}}
START = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def catalogs(draw: st.DrawFn) -> list[BackupNode]:
    """Backups over ~100 days: fulls, and incrementals/differentials depending on older ones."""
    n = draw(st.integers(min_value=0, max_value=40))
    gaps = draw(st.lists(st.integers(min_value=0, max_value=60 * 60 * 60), min_size=n, max_size=n))
    nodes: list[BackupNode] = []
    when = START
    for i, gap in enumerate(gaps):
        when += timedelta(seconds=gap)
        deps: frozenset[str] = frozenset()
        if nodes and draw(st.booleans()):
            parent = draw(st.integers(min_value=0, max_value=len(nodes) - 1))
            extra = draw(st.sets(st.integers(min_value=0, max_value=parent), max_size=2))
            deps = frozenset(nodes[j].backup_id for j in {parent, *extra})
        nodes.append(BackupNode(f"b{i:03d}", when, deps, draw(st.booleans()) and draw(st.booleans())))
    return nodes


rule = st.one_of(st.none(), st.integers(min_value=0, max_value=6))


@settings(max_examples=300, deadline=None)
@given(catalogs(), rule, rule, rule, rule)
def test_a_chain_is_never_broken_and_pinned_backups_survive(nodes: list[BackupNode], last: int | None,
                                                            daily: int | None, weekly: int | None,
                                                            monthly: int | None) -> None:
    if not (last or daily or weekly or monthly):  # a policy that keeps nothing is refused (test_bad_input.py)
        last = 1
    plan = plan_retention(nodes, keep_last=last, keep_daily=daily, keep_weekly=weekly, keep_monthly=monthly)
    by_id = {n.backup_id: n for n in nodes}
    kept, deleted = set(plan.keep), set(plan.delete)
    assert kept | deleted == set(by_id) and not kept & deleted
    for backup_id in kept:
        assert by_id[backup_id].depends_on <= kept, "a kept backup lost something it depends on"
    assert {n.backup_id for n in nodes if n.pinned} <= kept
    newest = sorted(nodes, key=lambda n: (n.created_at, n.backup_id), reverse=True)
    assert {n.backup_id for n in newest[:last or 0]} <= kept
    position = {b: i for i, b in enumerate(plan.delete)}
    for backup_id in plan.delete:  # deleting in order never leaves a dependent without its base
        for dep in by_id[backup_id].depends_on:
            assert dep not in position or position[dep] > position[backup_id]


@given(catalogs())
def test_dependents_first_orders_any_subset(nodes: list[BackupNode]) -> None:
    by_id = {n.backup_id: n for n in nodes}
    order = dependents_first(by_id, by_id)
    index = {b: i for i, b in enumerate(order)}
    assert sorted(order) == sorted(by_id)
    for n in nodes:
        assert all(index[d] > index[n.backup_id] for d in n.depends_on)


def test_daily_weekly_monthly_pick_the_newest_of_each_period() -> None:
    nodes = [BackupNode(f"d{i:02d}-{h}", START + timedelta(days=i, hours=h)) for i in range(70) for h in (1, 13)]
    plan = plan_retention(nodes, keep_daily=3, keep_weekly=2, keep_monthly=3)
    assert {k for k, why in plan.keep.items() if "daily" in why} == {"d69-13", "d68-13", "d67-13"}
    assert {k for k, why in plan.keep.items() if "monthly" in why} == {"d69-13", "d58-13", "d30-13"}
    assert len([k for k, why in plan.keep.items() if "weekly" in why]) == 2


def test_a_policy_needs_a_rule() -> None:
    with pytest.raises(ValueError, match="at least one"):
        plan_retention([])
    with pytest.raises(ValueError, match="zero or more"):
        plan_retention([], keep_last=-1)


# -- against a real workspace ------------------------------------------------------------------------------------
@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"v{i}" * 20,) for i in range(5000)])
    conn.commit()
    conn.close()
    return path


def _touch(path: Path, i: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO t (v) VALUES (?)", (f"step {i}",))
    conn.commit()
    conn.close()


def test_prune_keeps_chains_and_pinned_backups(database: Path, tmp_path: Path) -> None:
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{database}")
    ids = []
    for i in range(6):
        _touch(database, i)
        ids.append(manager.create_backup("app", backup_type="full" if i in (0, 3) else "incremental").backup_id)
    manager.pin(ids[1])
    dry = manager.prune("app", keep_last=1, dry_run=True)
    assert dry.dry_run and len(manager.get_backups("app")) == 6
    assert set(dry.kept) == {ids[0], ids[1], ids[3], ids[4], ids[5]}
    assert dry.kept[ids[1]] == ["pinned"] and dry.kept[ids[0]] == ["needed by a kept backup"]
    result = manager.prune("app", keep_last=1)
    assert result.deleted == [ids[2]]
    assert [b.backup_id for b in manager.get_backups("app")] == [ids[0], ids[1], ids[3], ids[4], ids[5]]
    manager.unpin(ids[1])
    assert manager.prune("app", keep_last=1).deleted == [ids[1], ids[0]]
    with pytest.raises(BackupError, match="at least one"):
        manager.prune("app")


def test_rekey_then_restore_with_the_new_key_and_the_old_key_fails(database: Path, tmp_path: Path) -> None:
    manager = BackupManager(workspace_dir=tmp_path / "ws", database_url=f"sqlite:///{database}")
    old = EncryptionSettings(passphrase="old passphrase", **FAST_KDF)  # type: ignore[arg-type]
    key_file = tmp_path / "new.key"
    key_file.write_text("ab" * 32)
    key_file.chmod(0o600)  # a key file others can read is refused
    new = EncryptionSettings(key_file=key_file)
    full = manager.create_backup("app", encryption=old).backup_id
    _touch(database, 1)
    inc = manager.create_backup("app", backup_type="incremental", encryption=old).backup_id
    sizes_before = {b: Path(manager.get_backup(b).file_path).stat().st_size for b in (full, inc)}
    manager.rekey([full, inc], old, new, keep_old=True)
    for enc in (old, new):  # both slots open while the old one is kept
        assert manager.verify_backup(inc, "full", encryption=enc).success
    manager.rekey([full, inc], new, new)  # drop the old slots
    for b in (full, inc):
        assert abs(Path(manager.get_backup(b).file_path).stat().st_size - sizes_before[b]) < 200
    target = tmp_path / "restored.db"
    manager.restore_backup(inc, f"sqlite:///{target}", encryption=new)
    assert sqlite3.connect(target).execute("SELECT COUNT(*) FROM t").fetchone() == (5001,)
    with pytest.raises((EncryptionError, ChainError)):
        manager.restore_backup(inc, f"sqlite:///{tmp_path / 'other.db'}", encryption=old)
    with pytest.raises(EncryptionError):
        manager.rekey([full], old, new)


def test_cli_incremental_list_pin_prune_delete_rekey(database: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    db = f"sqlite:///{database}"
    env = {"DBKEEPER_BACKUP_PASSPHRASE": "cli passphrase 1", "NEW_PASS": "cli passphrase 2"}
    ids = []
    for kind in ("full", "incremental", "incremental"):
        _touch(database, len(ids))
        out = runner.invoke(backup, ["create", "--db", db, "--name", "app", "--type", kind, "--encrypt", "--kdf",
                                     "scrypt", "--workspace", ws, "--json"], env=env)
        assert out.exit_code == 0, out.output
        ids.append(json.loads(out.output)["backup_id"])
    listed = runner.invoke(backup, ["list", "--workspace", ws], env=env).output
    assert f"(parent {ids[0]})" in listed and "└" in listed
    refused = runner.invoke(backup, ["delete", ids[1], "--workspace", ws])
    assert refused.exit_code == 1 and "--cascade" in refused.output
    assert runner.invoke(backup, ["pin", ids[1], "--workspace", ws]).exit_code == 0
    assert "pinned" in runner.invoke(backup, ["list", "--workspace", ws]).output
    pruned = runner.invoke(backup, ["prune", "--name", "app", "--keep-last", "1", "--workspace", ws, "--json"])
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.output)["deleted"] == []
    assert runner.invoke(backup, ["unpin", ids[1], "--workspace", ws]).exit_code == 0
    rekeyed = runner.invoke(backup, ["rekey", "--name", "app", "--new-passphrase-env", "NEW_PASS", "--new-kdf",
                                     "scrypt", "--workspace", ws, "--json"], env=env)
    assert rekeyed.exit_code == 0, rekeyed.output
    assert sorted(json.loads(rekeyed.output)["rekeyed"]) == sorted(ids)
    assert "cli passphrase" not in rekeyed.output
    target = tmp_path / "restored.db"
    ok = runner.invoke(backup, ["restore", ids[2], "--to", f"sqlite:///{target}", "--passphrase-env", "NEW_PASS",
                                "--workspace", ws], env=env)
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(backup, ["verify", ids[2], "--workspace", ws], env=env)
    assert bad.exit_code == 1
    deleted = runner.invoke(backup, ["delete", ids[0], "--cascade", "--workspace", ws, "--json"])
    assert deleted.exit_code == 0, deleted.output
    assert runner.invoke(backup, ["list", "--workspace", ws]).output.strip() == "no backups"
