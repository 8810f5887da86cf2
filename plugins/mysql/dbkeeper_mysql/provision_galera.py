"""Private MariaDB Galera clusters for tests: N nodes of one cluster on loopback ports.

Why: ``GET_LOCK`` is node-local on Galera, so the migration lock has to be
proved against a real cluster, with migrators on different nodes; no shared
test server is a cluster. Node 1 is bootstrapped with ``--wsrep-new-cluster``
and the others join it one at a time, receiving the data by ``rsync`` state
transfer (Debian's ``galera-4`` provider and ``wsrep_sst_rsync``). Each node
has its own data directory in one temporary directory and four ports: SQL,
group communication, incremental state transfer and state snapshot transfer.
Three nodes take about 15 s on the CI machine. Root runs them as the
``mysql`` OS user, as :func:`dbkeeper_mysql.provision.start_mariadb` does.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dbkeeper.testing.provision import (
    START_TIMEOUT,
    PrivateServer,
    PrivateServerError,
    PrivateServerUnavailable,
    RunAs,
    execute,
    free_port,
    make_directory,
    ready,
    run,
    start_listening,
)
from dbkeeper.urls import DatabaseURL
from dbkeeper_mysql.provision import mariadb_binaries

#: Where Debian's galera-4 package puts the provider (``dpkg -L galera-4 | grep libgalera``).
GALERA_PROVIDERS = ("/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so",
                    "/usr/lib64/galera-4/libgalera_smm.so", "/usr/lib64/galera/libgalera_smm.so")
#: Options every node gets: small buffers, no fsync, the settings Galera requires (row events, InnoDB,
#: interleaved auto-increment locks).
GALERA_NODE_OPTIONS = (
    "--innodb-buffer-pool-size=32M",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-doublewrite=0",
    "--innodb-log-file-size=16M",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    "--max-connections=40",
    "--binlog-format=ROW",
    "--default-storage-engine=InnoDB",
    "--innodb-autoinc-lock-mode=2",
    "--performance-schema=OFF",
)


@dataclass(eq=False)
class PrivateCluster:
    """A running private Galera cluster: its nodes in start order (node 1 bootstrapped it)."""

    nodes: list[PrivateServer]
    directory: Path
    name: str
    startup_seconds: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def urls(self) -> list[DatabaseURL]:
        """The admin URL of each node (database ``test``)."""
        return [node.url for node in self.nodes]

    def stop(self) -> None:
        """Stop the joiners, then the bootstrap node, and remove the directory. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def galera_provider() -> Path:
    """The Galera 4 provider library; :class:`PrivateServerUnavailable` when ``galera-4`` is not installed."""
    for candidate in GALERA_PROVIDERS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise PrivateServerUnavailable("the Galera provider (libgalera_smm.so, Debian package galera-4) is not installed")


def _require_tools() -> None:
    if shutil.which("rsync") is None or shutil.which("wsrep_sst_rsync") is None:
        raise PrivateServerUnavailable("Galera rsync state transfer needs rsync and wsrep_sst_rsync")


def start_galera(*, nodes: int = 3, options: Sequence[str] = GALERA_NODE_OPTIONS,
                 timeout: float = START_TIMEOUT) -> PrivateCluster:
    """A fresh ``nodes``-node Galera cluster, ``root`` without a password and a ``test`` database on each node.

    Stop it with :meth:`PrivateCluster.stop`; a failure part-way stops the
    nodes already running.
    """
    if nodes < 1:
        raise ValueError("a cluster has at least one node")
    began = time.monotonic()
    server_binary, install = mariadb_binaries()
    provider = galera_provider()
    _require_tools()
    run_as = RunAs.service("mysql")
    directory = make_directory("galera", run_as)
    name = f"dbk-{directory.name[-8:]}"
    group_ports = [free_port() for _ in range(nodes)]
    address = "gcomm://" + ",".join(f"127.0.0.1:{port}" for port in group_ports)
    started: list[PrivateServer] = []
    cluster = PrivateCluster(started, directory, name)
    try:
        for index in range(nodes):
            spec = _Node(index, server_binary, install, provider, run_as, directory, name, address,
                         group_ports[index], tuple(options))
            started.append(_start_node(spec, timeout))
        _wait_for_size(started[0].url, nodes, timeout)
        execute(started[0].url.with_database("mysql"), ["CREATE DATABASE IF NOT EXISTS test"])
    except BaseException:
        cluster.stop()
        raise
    cluster.startup_seconds = round(time.monotonic() - began, 3)
    return cluster


@dataclass(frozen=True)
class _Node:
    """Everything one node's command line is made of."""

    index: int
    server_binary: Path
    install: Path
    provider: Path
    run_as: RunAs
    root: Path
    cluster_name: str
    address: str
    group_port: int
    options: tuple[str, ...]


def _start_node(node: _Node, timeout: float) -> PrivateServer:
    began = time.monotonic()
    index, server_binary, install, provider, run_as = (node.index, node.server_binary, node.install, node.provider,
                                                       node.run_as)
    root, name, address, group_port, options = (node.root, node.cluster_name, node.address, node.group_port,
                                                 node.options)
    directory = root / f"node{index + 1}"
    directory.mkdir()
    run_as.own(directory)
    log = directory / "server.log"
    data = directory / "data"
    run([str(install), "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
         "--skip-test-db", "--skip-name-resolve", f"--tmpdir={directory}"], run_as, directory, log,
        "mariadb-install-db")
    ist_port, sst_port = free_port(), free_port()
    bootstrap = ["--wsrep-new-cluster"] if index == 0 else []

    def build(port: int) -> tuple[list[str], DatabaseURL]:
        command = [
            str(server_binary), "--no-defaults", f"--datadir={data}", f"--socket={directory / 'mysqld.sock'}",
            f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={directory / 'mysqld.pid'}",
            f"--tmpdir={directory}", "--skip-name-resolve", *options,
            "--wsrep-on=ON", f"--wsrep-provider={provider}", f"--wsrep-cluster-name={name}",
            f"--wsrep-cluster-address={address}", f"--wsrep-node-name=node{index + 1}",
            f"--wsrep-node-address=127.0.0.1:{group_port}",
            f"--wsrep-node-incoming-address=127.0.0.1:{port}",
            f"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{group_port};"
            f"ist.recv_addr=127.0.0.1:{ist_port};gcache.size=16M;evs.suspect_timeout=PT5S;"
            "evs.inactive_timeout=PT10S",
            "--wsrep-sst-method=rsync", f"--wsrep-sst-receive-address=127.0.0.1:{sst_port}",
            *bootstrap,
        ]
        return command, DatabaseURL.parse(f"mysql://root@127.0.0.1:{port}/mysql")

    process, url = start_listening(build, run_as, directory, log, timeout)
    server = PrivateServer("mysql", url.with_database("test"), directory, process, log)
    return ready(server, began, [])


def _wait_for_size(url: DatabaseURL, size: int, timeout: float) -> None:
    """Wait until the cluster seen from ``url`` has ``size`` synced members."""
    from dbkeeper.engine.connection import DatabaseConnection

    deadline = time.monotonic() + timeout
    seen = None
    with DatabaseConnection.from_url(url.with_database("mysql"), name="galera-probe", max_retries=0,
                                     record_queries=False) as conn:
        while time.monotonic() < deadline:
            rows = list(conn.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                                "('wsrep_cluster_size', 'wsrep_local_state_comment')"))
            status = {str(r["Variable_name"]): str(r["Value"]) for r in rows}
            seen = status
            if status.get("wsrep_cluster_size") == str(size) and status.get("wsrep_local_state_comment") == "Synced":
                return
            time.sleep(0.1)
    raise PrivateServerError(f"the Galera cluster did not reach {size} synced nodes within {timeout:g} s: {seen}")


@contextlib.contextmanager
def private_galera(*, nodes: int = 3, options: Sequence[str] = GALERA_NODE_OPTIONS,
                   timeout: float = START_TIMEOUT) -> Iterator[PrivateCluster]:
    """:func:`start_galera` for a ``with`` block: stopped and removed when the block ends, however it ends."""
    cluster = start_galera(nodes=nodes, options=options, timeout=timeout)
    try:
        yield cluster
    finally:
        cluster.stop()
