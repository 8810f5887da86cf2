"""Redis backups through the core's archive pipeline, on the real server.

Every key type (string, list, set, zset, hash, stream with a consumer group)
with and without TTLs survives dump and restore through every compression,
with and without encryption; restores refuse a non-empty target unless
asked to flush it; deep verification restores into a claimed scratch
database; a damaged stream is refused before anything is written.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from dbkeeper.backup import BackupManager, EncryptionSettings, RestoreTargetError
from dbkeeper.backup.errors import CorruptBackupError
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.urls import DatabaseURL
from dbkeeper_redis import RedisDialect
from dbkeeper_redis.dump import MAGIC, read_dump
from dbkeeper_redis.frames import encode_record
from dbkeeper_redis.scratch import MARKER_KEY

FAST_KDF = {"memory_kib": 1024, "iterations": 1}
PASSPHRASE = "pass phrase for redis tests"
TTL_SECONDS = 3_600


def client_for(url: DatabaseURL) -> redis.Redis:
    return RedisDialect().connect(url).client  # type: ignore[no-any-return]


def fill(client: redis.Redis, n: int = 50) -> None:
    """Every core type, binary keys and values, half of them with a TTL."""
    for i in range(n):
        ttl = TTL_SECONDS if i % 2 else None
        client.set(f"str:{i}", f"value {i} ünï", ex=ttl)
        client.set(b"bin:\xff\x00" + bytes([i]), bytes(range(256)) * 3, ex=ttl)
    client.rpush("list:1", *[f"item {i}" for i in range(300)])
    client.sadd("set:1", *[f"member {i}" for i in range(200)])
    client.zadd("zset:1", {f"player {i}": i * 1.5 for i in range(200)})
    client.hset("hash:1", mapping={f"field {i}": f"v{i}" for i in range(200)})
    client.expire("hash:1", TTL_SECONDS)
    for i in range(100):
        client.xadd("stream:1", {"n": str(i), "payload": "x" * 20})
    client.xgroup_create("stream:1", "workers", id="0")
    client.xreadgroup("workers", "alice", {"stream:1": ">"}, count=10)
    client.set("big:1", b"z" * 3_000_000)  # bigger than one restore batch's byte budget


def state(client: redis.Redis) -> dict[bytes, Any]:
    """Every key's type, value and whether (and roughly how long) it expires; the scratch marker left out."""
    out: dict[bytes, Any] = {}
    for key in client.scan_iter(count=1000):
        if key == MARKER_KEY:
            continue
        kind = client.type(key).decode()
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            value = client.hgetall(key)
        else:
            groups = [(g["name"], g["pending"], g["last-delivered-id"]) for g in client.xinfo_groups(key)]
            value = (client.xrange(key), groups)
        ttl = client.ttl(key)
        out[key] = (kind, value, "none" if ttl == -1 else TTL_SECONDS - 120 <= ttl <= TTL_SECONDS)
    return out


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_every_key_type_with_ttls_round_trips(redis_url: DatabaseURL, redis_target_url: DatabaseURL,
                                              tmp_path: Path, compression: str, encrypted: bool) -> None:
    source = client_for(redis_url)
    fill(source)
    enc = EncryptionSettings(passphrase=PASSPHRASE, kdf_params=FAST_KDF) if encrypted else None
    manager = BackupManager(tmp_path / "ws", redis_url)
    result = manager.create_backup("cache", compression=compression, encryption=enc)
    assert result.success, result.error_message
    backup = manager.get_backup(result.backup_id)
    assert backup.database_type == "redis" and backup.compression == compression
    assert backup.encryption is encrypted
    assert manager.verify_backup(result.backup_id, "full", encryption=enc).success
    manager.restore_backup(result.backup_id, redis_target_url, encryption=enc)
    original = state(source)
    restored = state(client_for(redis_target_url))
    assert set(restored) == set(original)
    assert restored == original
    assert {v[0] for v in original.values()} == {"string", "list", "set", "zset", "hash", "stream"}


def test_the_manifest_describes_the_dump(redis_url: DatabaseURL, tmp_path: Path) -> None:
    fill(client_for(redis_url), n=4)
    manager = BackupManager(tmp_path / "ws", redis_url)
    result = manager.create_backup("cache", compression="zstd")
    backup = manager.get_backup(result.backup_id)
    assert backup.metadata["server_version"]
    assert backup.metadata["tool"].startswith("redis-py")


def test_restore_refuses_a_non_empty_target_then_flushes_only_that_database(
        redis_url: DatabaseURL, redis_target_url: DatabaseURL, tmp_path: Path) -> None:
    source, target = client_for(redis_url), client_for(redis_target_url)
    fill(source, n=6)
    target.set("stale", "from before")
    target.set("str:0", "will be replaced")
    manager = BackupManager(tmp_path / "ws", redis_url)
    result = manager.create_backup("cache", compression="gzip")
    with pytest.raises(RestoreTargetError, match="holds 2 keys"):
        manager.restore_backup(result.backup_id, redis_target_url)
    assert target.get("stale") == b"from before"
    manager.restore_backup(result.backup_id, redis_target_url, replace=True)
    assert target.get("stale") is None
    assert state(target) == state(source)  # the source database was not flushed
    assert target.get(MARKER_KEY) is not None  # the scratch claim survives the flush


def test_deep_verify_restores_into_a_claimed_scratch_database(redis_url: DatabaseURL, tmp_path: Path) -> None:
    fill(client_for(redis_url), n=10)
    manager = BackupManager(tmp_path / "ws", redis_url)
    result = manager.create_backup("cache", compression="zstd")
    verdict = manager.verify_backup(result.backup_id, "deep")
    assert verdict.success, verdict.error_message
    assert "str:*: 10 rows" in verdict.warnings[0]
    assert "stream:*: 1 rows" in verdict.warnings[0]


def test_a_dump_taken_while_keys_are_deleted_skips_them(redis_url: DatabaseURL, redis_target_url: DatabaseURL,
                                                        tmp_path: Path) -> None:
    """SCAN is not a snapshot: keys deleted during the dump are skipped, never half-written."""
    source = client_for(redis_url)
    pipe = source.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"k:{i}", i)
    pipe.execute()
    stop = threading.Event()

    def delete() -> None:
        other = client_for(redis_url)
        i = 0
        while not stop.is_set() and i < 20_000:
            other.delete(*[f"k:{j}" for j in range(i, i + 100)])
            i += 100

    worker = threading.Thread(target=delete)
    worker.start()
    manager = BackupManager(tmp_path / "ws", redis_url)
    try:
        result = manager.create_backup("cache", compression="none")
    finally:
        stop.set()
        worker.join()
    assert result.success, result.error_message
    manager.restore_backup(result.backup_id, redis_target_url)
    target = client_for(redis_target_url)
    restored = [k for k in target.scan_iter(count=1000) if k != MARKER_KEY]
    assert all(target.get(k) == k.split(b":")[1] for k in restored)


def test_an_empty_database_round_trips(redis_url: DatabaseURL, redis_target_url: DatabaseURL,
                                       tmp_path: Path) -> None:
    manager = BackupManager(tmp_path / "ws", redis_url)
    result = manager.create_backup("cache")
    assert result.success, result.error_message
    manager.restore_backup(result.backup_id, redis_target_url)
    assert state(client_for(redis_target_url)) == {}


def _stream(*records: bytes, count: int | None = None) -> bytes:
    import json
    import struct

    header = json.dumps({"format": "dbkeeper-redis-dump", "version": 1}).encode()
    end = json.dumps({}).encode()
    n = len(records) if count is None else count
    return (MAGIC + struct.pack(">I", len(header)) + header + b"".join(records) + b"E" + struct.pack(">Q", n)
            + struct.pack(">I", len(end)) + end)


def test_the_framing_round_trips_and_rejects_damage() -> None:
    record = encode_record("string", b"k", -1, b"payload")
    header, records, trailer = read_dump(io.BytesIO(_stream(record)))
    assert header["format"] == "dbkeeper-redis-dump"
    assert list(records) == [("string", b"k", -1, b"payload")]
    assert trailer["records"] == 1
    for damaged, message in ((_stream(record)[:-3], "truncated"), (_stream(record, count=2), "end record says"),
                             (_stream(record) + b"x", "data follows"), (b"NOTADUMP" + b"\0" * 20, "magic"),
                             (_stream(b"Z" + record[1:]), "unknown record tag")):
        with pytest.raises(CorruptBackupError, match=message):
            list(read_dump(io.BytesIO(damaged))[1])


def _staging_databases(client: redis.Redis) -> list[int]:
    """Numbers of databases still claimed by a restore's staging (there should be none afterwards)."""
    left = []
    for number in range(16):
        client.execute_command("SELECT", number)
        if (client.get(MARKER_KEY) or b"").startswith(b"dbk_restore_"):
            left.append(number)
    return left


def test_a_rejected_payload_leaves_the_target_untouched(redis_target_url: DatabaseURL) -> None:
    from dbkeeper.backup.errors import BackupError
    from dbkeeper_redis.dump import restore

    target = client_for(redis_target_url)
    target.set("precious", "still here")
    good = [encode_record("string", f"k{i}".encode(), -1, target.dump("precious")) for i in range(700)]
    stream = _stream(*good, encode_record("string", b"bad", -1, b"not a DUMP payload"))
    with DatabaseConnection.from_url(redis_target_url) as conn, \
            pytest.raises(BackupError, match=r"refused to RESTORE key 'bad'.*was not touched"):
        restore(conn, io.BytesIO(stream), {"replace": True})
    assert state(target) == {b"precious": ("string", b"still here", "none")}
    assert _staging_databases(RedisDialect().connect(redis_target_url).client) == []


def test_a_restore_swaps_a_fully_loaded_staging_database_in(redis_url: DatabaseURL, redis_target_url: DatabaseURL,
                                                            redis_admin_url: DatabaseURL) -> None:
    from dbkeeper_redis.dump import restore

    untouched = client_for(redis_admin_url.with_database("0"))
    keys_in_db0 = untouched.dbsize()
    fill(client_for(redis_url), n=5)
    stream = io.BytesIO()
    with DatabaseConnection.from_url(redis_url) as conn:
        from dbkeeper_redis.dump import dump

        dump(conn, stream, {})
    stream.seek(0)
    with DatabaseConnection.from_url(redis_target_url) as conn:
        info = restore(conn, stream, {})
    assert info["swapped"] is True and info["warnings"] == []
    assert state(client_for(redis_target_url)) == state(client_for(redis_url))
    assert untouched.dbsize() == keys_in_db0  # nothing strayed into database 0
    assert _staging_databases(RedisDialect().connect(redis_target_url).client) == []


def test_without_swapdb_the_restore_loads_in_place_and_says_so(redis_url: DatabaseURL,
                                                               redis_target_url: DatabaseURL) -> None:
    """A user whose ACL forbids SWAPDB (as managed services often do) still restores, in place."""
    import secrets as secrets_module

    from dbkeeper_redis.dump import dump, restore

    admin = client_for(redis_url)
    fill(admin, n=5)
    user, password = f"dbk_test_{secrets_module.token_hex(4)}", secrets_module.token_hex(12)
    admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-swapdb")
    try:
        restricted = DatabaseURL(scheme="redis", username=user, password=password, host=redis_target_url.host,
                                 port=redis_target_url.port, database=redis_target_url.database)
        stream = io.BytesIO()
        with DatabaseConnection.from_url(redis_url) as conn:
            dump(conn, stream, {})
        stream.seek(0)
        with DatabaseConnection.from_url(restricted) as conn:
            info = restore(conn, stream, {})
    finally:
        admin.execute_command("ACL", "DELUSER", user)
    assert info["swapped"] is False
    assert "restored in place" in info["warnings"][0] and "SWAPDB" in info["warnings"][0]
    assert state(client_for(redis_target_url)) == state(admin)


def test_large_values_shrink_the_dump_batches_and_still_round_trip(redis_url: DatabaseURL,
                                                                   redis_target_url: DatabaseURL,
                                                                   tmp_path: Path) -> None:
    source = client_for(redis_url)
    for i in range(40):
        source.set(f"blob:{i}", bytes([i]) * 1_000_000)
    stream = io.BytesIO()
    from dbkeeper_redis.dump import dump

    with DatabaseConnection.from_url(redis_url) as conn:
        meta = dump(conn, stream, {})
    assert meta["keys"] == 40 and meta["types"] == {"string": 40}
    stream.seek(0)
    _, records, _ = read_dump(stream)
    assert sorted(key for _, key, _, _ in records) == sorted(f"blob:{i}".encode() for i in range(40))
    manager = BackupManager(tmp_path / "ws", redis_url)
    result = manager.create_backup("cache", compression="zstd")
    manager.restore_backup(result.backup_id, redis_target_url)
    target = client_for(redis_target_url)
    assert all(target.get(f"blob:{i}") == bytes([i]) * 1_000_000 for i in range(40))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["string", "list", "set", "zset", "hash", "stream", "ReJSON-RL"]),
                          st.binary(max_size=40), st.integers(min_value=-1, max_value=2**62),
                          st.binary(max_size=300)), max_size=20))
def test_any_records_survive_the_framing(records: list[tuple[str, bytes, int, bytes]]) -> None:
    stream = _stream(*(encode_record(*record) for record in records))
    _, parsed, trailer = read_dump(io.BytesIO(stream))
    assert list(parsed) == records
    assert trailer["records"] == len(records)
    cut = len(stream) // 2
    with pytest.raises(CorruptBackupError):
        list(read_dump(io.BytesIO(stream[:cut]))[1])
