"""Shared helpers for the benchmarks: scratch databases, timing, ratio tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dbkeeper.testing import servers
from dbkeeper.urls import DatabaseURL


@dataclass
class Row:
    """One comparison: dbkeeper against the alternative, with the target ratio."""

    name: str
    ours: float
    theirs: float
    target: str
    ok: bool

    @property
    def ratio(self) -> float:
        return self.ours / self.theirs if self.theirs else float("inf")


def best_of(fn: Callable[[], object], rounds: int = 5) -> float:
    """Median wall time of ``rounds`` runs of ``fn`` (seconds)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(a: Callable[[], object], b: Callable[[], object], rounds: int = 7) -> tuple[float, float]:
    """Best times of ``a`` and ``b`` measured in alternating rounds (fair under drift).

    The minimum, as ``timeit`` recommends: on a machine that also runs the
    database server (and other jobs), every deviation from it is time spent
    waiting for a CPU, which says nothing about the code being compared.
    """
    ta, tb = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        a()
        ta.append(time.perf_counter() - start)
        start = time.perf_counter()
        b()
        tb.append(time.perf_counter() - start)
    return min(ta), min(tb)


@contextmanager
def server_database(kind: str) -> Iterator[DatabaseURL | None]:
    """A scratch database on the test server ``kind``, or ``None`` when it is unavailable."""
    admin = servers.server_url(kind)
    reason = servers.check_server(admin)
    if reason is not None:
        print(f"  {kind}: skipped ({reason})")
        yield None
        return
    with servers.scratch_database(admin, prefix="dbk_bench") as url:
        yield url


def print_rows(rows: list[Row]) -> None:
    """Print the comparison table."""
    width = max(len(r.name) for r in rows) + 2
    print(f"\n{'benchmark'.ljust(width)} {'dbkeeper':>12} {'alternative':>12} {'ratio':>8}  target")
    for r in rows:
        mark = "ok" if r.ok else "MISSED"
        print(f"{r.name.ljust(width)} {r.ours * 1e3:>10.2f}ms {r.theirs * 1e3:>10.2f}ms {r.ratio:>7.2f}x  "
              f"{r.target} {mark}")
