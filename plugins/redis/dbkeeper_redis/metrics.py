"""Redis's native statistics from ``INFO``, flattened for dbkeeper's monitoring.

The common keys the analyser understands are filled where Redis has an
equivalent: ``connections_active`` (connected clients), ``cache_hit_ratio``
(``keyspace_hits / (hits + misses)``: how often a read found its key).
Everything else keeps Redis's own names. A figure Redis cannot give (no
reads yet, ``INFO`` denied by an ACL, no ``maxmemory``) is ``None`` with the
reason under ``unavailable``, never a made-up zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbkeeper_redis._client import dedicated

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session

#: INFO fields copied as they are (section: fields).
_FIELDS = {
    "server": ("redis_version", "redis_mode", "uptime_in_seconds", "run_id"),
    "clients": ("connected_clients", "blocked_clients", "maxclients"),
    "memory": ("used_memory", "used_memory_rss", "used_memory_peak", "maxmemory", "maxmemory_policy",
               "mem_fragmentation_ratio"),
    "stats": ("instantaneous_ops_per_sec", "total_commands_processed", "total_connections_received",
              "rejected_connections", "keyspace_hits", "keyspace_misses", "expired_keys", "evicted_keys",
              "instantaneous_input_kbps", "instantaneous_output_kbps"),
    "persistence": ("rdb_last_bgsave_status", "rdb_changes_since_last_save", "aof_enabled"),
    "replication": ("role", "connected_slaves"),
}


#: Cumulative counters: monitoring turns two snapshots into per-second rates. ``run_id`` (new on every
#: restart) is the reset marker; ``CONFIG RESETSTAT`` shows as counters going down.
COUNTERS = ("total_commands_processed", "total_connections_received", "rejected_connections", "keyspace_hits",
            "keyspace_misses", "expired_keys", "evicted_keys")


def collect_metrics(connection: Session) -> dict[str, Any]:
    """Clients, throughput, hit ratio, memory, persistence, replication and this database's keyspace."""
    import redis

    unavailable: dict[str, str] = {}
    metrics: dict[str, Any] = {"unavailable": unavailable, "counters": list(COUNTERS)}
    with dedicated(connection, what="collecting metrics") as raw:
        try:
            info: Any = raw.client.info("all")
        except redis.ResponseError as exc:
            reason = f"INFO was refused: {exc}"
            for section in _FIELDS.values():
                for name in section:
                    metrics[name] = None
                    unavailable[name] = reason
            for name in ("connections_active", "cache_hit_ratio", "ops_per_sec", "keys", "expires"):
                metrics[name] = None
                unavailable[name] = reason
            return metrics
        db = raw.db
    for section in _FIELDS.values():
        for name in section:
            value = info.get(name)
            metrics[name] = value
            if value is None:
                unavailable[name] = "this Redis version does not report it"
    metrics["connections_active"] = metrics["connected_clients"]
    metrics["connections_total"] = metrics["connected_clients"]
    metrics["max_connections"] = metrics["maxclients"]
    metrics["reset_marker"] = metrics["run_id"]
    metrics["uptime"] = metrics["uptime_in_seconds"]
    metrics["ops_per_sec"] = metrics["instantaneous_ops_per_sec"]
    hits, misses = info.get("keyspace_hits"), info.get("keyspace_misses")
    if isinstance(hits, int) and isinstance(misses, int) and hits + misses:
        metrics["cache_hit_ratio"] = round(hits / (hits + misses), 6)
    else:
        metrics["cache_hit_ratio"] = None
        unavailable["cache_hit_ratio"] = "no key lookups since the server started (or its statistics were reset)"
    if not metrics.get("maxmemory"):
        metrics["memory_used_ratio"] = None
        unavailable["memory_used_ratio"] = "maxmemory is 0: no memory limit is set"
    else:
        metrics["memory_used_ratio"] = round(int(metrics["used_memory"]) / int(metrics["maxmemory"]), 6)
    space = info.get(f"db{db}") or {}
    metrics["database"] = db
    metrics["keys"] = int(space.get("keys", 0))
    metrics["expires"] = int(space.get("expires", 0))
    metrics["avg_ttl_ms"] = int(space.get("avg_ttl", 0)) if space else None
    if not space:
        unavailable["avg_ttl_ms"] = f"database {db} holds no keys"
    return metrics
