"""Redis incremental and differential chains through the core's pipeline, on the real server.

A chain of depth five (a chainable full, incrementals and a differential,
with keys added, changed, deleted and given other TTLs in between) restores
every point exactly; an incremental after a 1 % change stores a small part
of the full; unchanged keys keep their bytes between chainable dumps; the
line framing survives any bytes and refuses damage; the core's chain rules
(a non-chainable base, deleting a parent) hold for this plugin unchanged.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from dbkeeper.backup import BackupManager, DependentBackupsError, EncryptionSettings
from dbkeeper.backup.chunking import LineChunker
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL
from dbkeeper_redis import RedisDialect
from dbkeeper_redis.chainable import MAGIC, end_line, escape, header_line, record_line, unescape
from dbkeeper_redis.dump import dump, read_dump
from dbkeeper_redis.errors import RedisDumpFormatError
from dbkeeper_redis.scratch import MARKER_KEY

FAST_KDF = {"memory_kib": 1024, "iterations": 1}


def client_for(url: DatabaseURL) -> redis.Redis:
    return RedisDialect().connect(url).client  # type: ignore[no-any-return]


def value(client: redis.Redis, key: bytes) -> Any:
    """A key's value in a form that compares equal for equal content (a set's order is the hash table's)."""
    kind = client.type(key).decode()
    if kind == "string":
        return client.get(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "hash":
        return sorted(client.hgetall(key).items())
    return client.xrange(key)


def state(client: redis.Redis) -> dict[bytes, Any]:
    """Every key's type, value and absolute expiry (exact: restores keep the stored expiry)."""
    out: dict[bytes, Any] = {}
    for key in client.scan_iter(count=1000):
        if key != MARKER_KEY:
            out[key] = (client.type(key), value(client, key), client.execute_command("PEXPIRETIME", key))
    return out


def seed(client: redis.Redis, n: int = 2_000) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"user:{i:06d}", f"name {i} " + "x" * 40)
        if i % 10 == 0:
            pipe.expire(f"user:{i:06d}", 86_400)
    pipe.rpush("queue", *[f"job {i}" for i in range(200)])
    pipe.hset("config", mapping={f"k{i}": str(i) for i in range(50)})
    pipe.zadd("scores", {f"p{i}": i for i in range(100)})
    pipe.sadd("tags", *[f"t{i}" for i in range(100)])
    pipe.xadd("events", {"n": "0"})
    pipe.execute()


def change(client: redis.Redis, step: int) -> None:
    """Inserts, updates, deletes and TTL changes, different at each step."""
    pipe = client.pipeline(transaction=False)
    for i in range(step * 10, step * 10 + 10):
        pipe.set(f"new:{step}:{i}", b"\x00\n\x01 binary " + bytes([i % 256]))
        pipe.set(f"user:{i:06d}", f"updated at step {step}")
        pipe.delete(f"user:{1000 + step * 20 + i:06d}")
    pipe.expire(f"user:{1500 + step:06d}", 3_600)
    pipe.persist(f"user:{step * 100:06d}")
    pipe.rpush("queue", f"job from step {step}")
    pipe.hset("config", f"step{step}", "yes")
    pipe.xadd("events", {"n": str(step)})
    pipe.execute()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_redis_chain_of_depth_five_restores_every_point(redis_url: DatabaseURL, redis_target_url: DatabaseURL,
                                                        tmp_path: Path, encrypted: bool) -> None:
    source = client_for(redis_url)
    seed(source)
    enc = EncryptionSettings(passphrase="redis chain", kdf_params=FAST_KDF) if encrypted else None
    manager = BackupManager(tmp_path / "ws", redis_url)
    points: list[tuple[str, dict[bytes, Any]]] = []
    full = manager.create_backup("cache", chainable=True, encryption=enc)
    assert full.success, full.error_message
    points.append((full.backup_id, state(source)))
    for step, kind in enumerate(["incremental", "incremental", "differential", "incremental"], start=1):
        change(source, step)
        result = manager.create_backup("cache", backup_type=kind, encryption=enc)
        assert result.success, result.error_message
        points.append((result.backup_id, state(source)))
    backups = {b.backup_id: b for b in manager.get_backups("cache")}
    assert [backups[bid].backup_type for bid, _ in points] == ["full", "incremental", "incremental",
                                                                "differential", "incremental"]
    target = client_for(redis_target_url)
    for backup_id, expected in points:
        manager.restore_backup(backup_id, redis_target_url, encryption=enc, replace=True)
        assert state(target) == expected, backup_id
    assert manager.verify_backup(points[-1][0], "full", encryption=enc).success


def test_an_incremental_after_a_one_percent_change_stores_little(redis_url: DatabaseURL, tmp_path: Path) -> None:
    source = client_for(redis_url)
    pipe = source.pipeline(transaction=False)
    for i in range(60_000):
        pipe.set(f"item:{i:06d}", f"{i} " + "payload " * 8)
    pipe.execute()
    manager = BackupManager(tmp_path / "ws", redis_url)
    full = manager.create_backup("cache", chainable=True, compression="none")
    pipe = source.pipeline(transaction=False)
    for i in range(30_000, 30_600):  # 1 % of the keys, in one key range
        pipe.set(f"item:{i:06d}", "changed")
    pipe.execute()
    inc = manager.create_backup("cache", backup_type="incremental", compression="none")
    full_backup, inc_backup = manager.get_backup(full.backup_id), manager.get_backup(inc.backup_id)
    assert inc_backup.metadata["stored_chunks"] <= 4
    assert inc_backup.metadata["chunks"] >= 10 * inc_backup.metadata["stored_chunks"]
    assert inc_backup.metadata["reused_bytes"] > 0
    inc_size = Path(inc_backup.file_path).stat().st_size
    full_size = Path(full_backup.file_path).stat().st_size
    assert inc_size < 0.1 * full_size


def test_unchanged_keys_keep_their_bytes_between_chainable_dumps(redis_url: DatabaseURL) -> None:
    source = client_for(redis_url)
    seed(source, n=3_000)
    connection = DatabaseConnection.from_url(redis_url)
    connection.connect()
    try:
        first, second = io.BytesIO(), io.BytesIO()
        meta = dump(connection, first, {"chainable": True})
        dump(connection, second, {"chainable": True})
    finally:
        connection.disconnect()
    assert meta["chainable"] and meta["ordered"] and meta["expiry"] == "PEXPIRETIME"
    # the header line holds the start time; every key line is identical
    assert first.getvalue().split(b"\n")[1:] == second.getvalue().split(b"\n")[1:]
    keys = [key for _kind, key, _expire, _payload in read_dump(io.BytesIO(first.getvalue()))[1]]
    assert keys == sorted(keys) and len(keys) == len(set(keys)) == 3_000 + 5
    chunks = LineChunker(4096)
    pieces = [*chunks.feed(first.getvalue()), chunks.flush()]
    assert len(pieces) > 10 and pieces[-1]
    assert all(piece.endswith(b"\n") for piece in pieces)  # every chunk ends on a key boundary


def test_a_plain_full_is_not_a_chain_base_and_parents_are_protected(redis_url: DatabaseURL, tmp_path: Path) -> None:
    seed(client_for(redis_url), n=100)
    manager = BackupManager(tmp_path / "ws", redis_url)
    default = manager.create_backup("cache")  # every full is a chain base by default
    assert default.success and manager.get_backup(default.backup_id).metadata["chainable"]
    plain = manager.create_backup("cache", chainable=False)
    assert plain.success and not manager.get_backup(plain.backup_id).metadata["chainable"]
    fallback = manager.create_backup("cache", backup_type="incremental")  # on the plain one: becomes a full
    assert fallback.success and "not a chainable dump" in fallback.warnings[0]
    assert manager.get_backup(fallback.backup_id).backup_type == "full"
    base = manager.create_backup("cache", chainable=True)
    inc = manager.create_backup("cache", backup_type="incremental")
    assert inc.success and inc.warnings == []
    with pytest.raises(DependentBackupsError):
        manager.delete_backup(base.backup_id)
    assert {b.backup_id for b in manager.get_backups("cache")} >= {base.backup_id, inc.backup_id}


_records = st.lists(st.tuples(st.sampled_from(["string", "hash", "list", "set", "zset", "stream"]),
                              st.binary(max_size=40), st.integers(-1, 2**62), st.binary(max_size=300)),
                    max_size=20)


@settings(max_examples=200, deadline=None)
@given(_records)
def test_any_records_survive_the_line_framing(records: list[tuple[str, bytes, int, bytes]]) -> None:
    stream = header_line({"format": "dbkeeper-redis-dump"})
    stream += b"".join(record_line(*record) for record in records)
    stream += end_line(len(records), {"types": {}})
    assert stream.count(b"\n") == len(records) + 2
    _header, parsed, trailer = read_dump(io.BytesIO(stream))
    assert list(parsed) == records
    assert trailer["records"] == len(records)


@given(st.binary(max_size=500))
def test_escaping_removes_every_newline_and_is_reversible(data: bytes) -> None:
    escaped = escape(data)
    assert b"\n" not in escaped
    assert unescape(escaped) == data


def test_damaged_line_streams_are_refused() -> None:
    good = header_line({"format": "dbkeeper-redis-dump"}) + record_line("string", b"k", -1, b"v") + end_line(
        1, {"types": {}})
    for bad, message in [(good[:-5], "truncated"), (good + b"K\n", "follows the end"),
                         (good.replace(b"\nK", b"\nQ"), "unknown record tag"),
                         (good.replace(end_line(1, {"types": {}}), end_line(2, {"types": {}})), "end record says"),
                         (MAGIC + b"Kxx\n", "not a header")]:
        with pytest.raises(RedisDumpFormatError, match=message):
            _header, records, _trailer = read_dump(io.BytesIO(bad))
            list(records)


def test_a_keyspace_larger_than_one_sort_run_is_merged_from_run_files(redis_url: DatabaseURL,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond SORT_RUN_KEYS names the key list is sorted through run files: the same bytes, bounded memory."""
    from dbkeeper_redis import chainable

    seed(client_for(redis_url), n=3_000)
    connection = DatabaseConnection.from_url(redis_url)
    connection.connect()
    try:
        in_memory, merged = io.BytesIO(), io.BytesIO()
        dump(connection, in_memory, {"chainable": True})
        monkeypatch.setattr(chainable, "SORT_RUN_KEYS", 700)  # five runs of sorted names, merged on read
        dump(connection, merged, {"chainable": True})
    finally:
        connection.disconnect()
    assert merged.getvalue().split(b"\n")[1:] == in_memory.getvalue().split(b"\n")[1:]
    keys = [key for _kind, key, _expire, _payload in read_dump(io.BytesIO(merged.getvalue()))[1]]
    assert keys == sorted(set(keys)) and len(keys) == 3_000 + 5
