"""Is this MySQL/MariaDB server a Galera cluster node, and may the migration lock run on it?

Why it matters: ``GET_LOCK`` is node-local on Galera. On a three-node
cluster, ``GET_LOCK('dbk:migrate', 0)`` held on node 1 was granted again on
node 2, so two migrators on two nodes both ran (Flyway, golang-migrate and
Prisma share that bug). The lock must then be a row the cluster replicates
(:mod:`dbkeeper_mysql.lease_lock`).

The answer comes from the server's own variables, read on the connection
the migrator uses, so it is right behind a proxy too (MaxScale, ProxySQL,
HAProxy route the query to a node, and the node answers for itself):

- ``wsrep_on`` (session) ``ON``: a cluster node whose writes replicate: the lease.
- a loaded provider (status ``wsrep_cluster_size`` > 0, or ``wsrep_provider``
  set) with ``wsrep_on`` ``OFF``: the lease row would not replicate and
  ``GET_LOCK`` is node-local: neither is safe, refused.
- ``wsrep_on`` ``ON`` on a node outside the primary component
  (``wsrep_ready`` ``OFF``): it cannot commit anything: refused.
- no wsrep variables at all (Oracle MySQL) or ``wsrep_on`` ``OFF`` without a
  provider (a plain MariaDB): a single server: ``GET_LOCK``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dbkeeper.migrations.errors import MigrationLockError

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session

SINGLE, CLUSTER = "single", "cluster"


@dataclass(frozen=True)
class ClusterState:
    """What the server says about its replication: the wsrep variables and status that decide the lock."""

    wsrep_on: bool
    provider_loaded: bool
    cluster_size: int
    ready: bool
    cluster_status: str
    osu_method: str
    node_name: str

    @property
    def kind(self) -> str:
        """:data:`SINGLE` or :data:`CLUSTER`; raises :class:`MigrationLockError` where no lock is safe."""
        if self.wsrep_on:
            if not self.ready or self.cluster_status.lower() not in ("", "primary"):
                raise MigrationLockError(
                    f"this Galera node ({self.node_name or 'unnamed'}) is not part of the primary component "
                    f"(wsrep_ready is {'ON' if self.ready else 'OFF'}, wsrep_cluster_status "
                    f"{self.cluster_status or 'unknown'}); it cannot commit, so no migration lock can be taken "
                    "on it. Point dbkeeper at a synced node")
            return CLUSTER
        if self.provider_loaded:
            raise MigrationLockError(
                "this server is a Galera cluster node but wsrep_on is OFF for this session: a lock row would "
                "not replicate and GET_LOCK is node-local, so neither lock is safe and migrations are refused. "
                "Connect with wsrep_on=ON (the default), or migrate a server that is not in the cluster")
        return SINGLE


def cluster_state(connection: Session) -> ClusterState:
    """Read the wsrep variables and status of the server behind ``connection`` (one round trip each)."""
    variables = {str(r["Variable_name"]).lower(): str(r["Value"]) for r in connection.execute(
        "SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_provider', 'wsrep_OSU_method', "
        "'wsrep_node_name')")}
    status = {str(r["Variable_name"]).lower(): str(r["Value"]) for r in connection.execute(
        "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_ready', 'wsrep_cluster_status')")}
    try:
        size = int(status.get("wsrep_cluster_size", "0") or 0)
    except ValueError:
        size = 0
    provider = variables.get("wsrep_provider", "none").strip().lower()
    return ClusterState(
        wsrep_on=variables.get("wsrep_on", "OFF").upper() in ("ON", "1"),
        provider_loaded=size > 0 or provider not in ("", "none"),
        cluster_size=size,
        ready=status.get("wsrep_ready", "OFF").upper() in ("ON", "1"),
        cluster_status=status.get("wsrep_cluster_status", ""),
        osu_method=variables.get("wsrep_osu_method", "TOI"),
        node_name=variables.get("wsrep_node_name", ""),
    )


#: Tables at least this large (data and indexes) are named in the TOI warning.
LARGE_TABLE_BYTES = 256 * 1024 * 1024


def toi_warning(connection: Session, state: ClusterState, threshold: int = LARGE_TABLE_BYTES) -> str:
    """What ``migrate`` tells people about DDL on this cluster, naming the large tables of the database.

    Under TOI (the default ``wsrep_OSU_method``) a DDL statement runs on every
    node at the same point of the replication stream, and every node stops
    committing until it is done: an ``ALTER`` of a large table is an outage of
    the whole cluster, not of one node.
    """
    rows = connection.execute(
        "SELECT table_name AS t, COALESCE(data_length, 0) + COALESCE(index_length, 0) AS size "
        "FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' "
        "AND COALESCE(data_length, 0) + COALESCE(index_length, 0) >= ? ORDER BY size DESC LIMIT 10", (threshold,))
    large = [f"{r['t']} ({int(r['size']) / 2**20:,.0f} MiB)" for r in rows]
    head = (f"Galera cluster of {state.cluster_size} nodes: the migration lock is a replicated lease row. "
            f"DDL runs under {state.osu_method.upper()}")
    if state.osu_method.upper() == "TOI":
        head += (" (Total Order Isolation) and blocks commits on every node of the cluster until it finishes; "
                 "for large tables use an online schema change tool or RSU instead")
    else:
        head += ", node by node; schema changes must stay compatible with the old schema while it rolls"
    if large:
        head += ". Large tables here: " + ", ".join(large)
    return head
