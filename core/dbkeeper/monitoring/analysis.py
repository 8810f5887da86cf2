"""Turn recorded query samples into statistics: rate, latency percentiles, top shapes, errors.

Pure functions over :class:`~dbkeeper.monitoring.store.Sample` lists, so the
same numbers come out whether the samples were just flushed by this process
or written by another one hours ago.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dbkeeper.monitoring.store import Sample


@dataclass(frozen=True)
class FingerprintStats:
    """Totals of one statement shape."""

    fingerprint: str
    calls: int
    total_ms: float
    avg_ms: float
    max_ms: float
    p95_ms: float
    errors: int
    rows: int

    @property
    def error_rate(self) -> float:
        """Share of calls that failed (0.0 - 1.0)."""
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class QueryAnalysis:
    """Statistics of the samples of one connection over a window.

    ``window_seconds`` spans first to last sample (at least one second, so a
    burst does not report an absurd rate).
    """

    database_name: str
    samples: int = 0
    errors: int = 0
    window_start: float | None = None
    window_end: float | None = None
    window_seconds: float = 0.0
    queries_per_second: float = 0.0
    avg_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    top_by_total_time: list[FingerprintStats] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        """Share of statements that failed (0.0 - 1.0)."""
        return self.errors / self.samples if self.samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        data = asdict(self)
        data["error_rate"] = round(self.error_rate, 6)
        for item, stats in zip(data["top_by_total_time"], self.top_by_total_time, strict=True):
            item["error_rate"] = round(stats.error_rate, 6)
        return data


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil(n * pct / 100), at least 1
    return float(sorted_values[int(min(rank, len(sorted_values))) - 1])


def analyze_samples(database_name: str, samples: Sequence[Sample], *, top: int = 10) -> QueryAnalysis:
    """Statistics of ``samples``; an empty sequence gives the all-zero analysis."""
    if not samples:
        return QueryAnalysis(database_name)
    durations = sorted(s.duration_ms for s in samples)
    start = min(s.ts for s in samples)
    end = max(s.ts for s in samples)
    window = max(end - start, 1.0)
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.fingerprint, []).append(sample)
    stats = []
    for fp, items in groups.items():
        times = sorted(s.duration_ms for s in items)
        total = sum(times)
        stats.append(FingerprintStats(
            fingerprint=fp, calls=len(items), total_ms=round(total, 3), avg_ms=round(total / len(items), 3),
            max_ms=round(times[-1], 3), p95_ms=round(percentile(times, 95), 3),
            errors=sum(1 for s in items if s.error), rows=sum(max(s.row_count, 0) for s in items)))
    stats.sort(key=lambda s: (-s.total_ms, s.fingerprint))
    return QueryAnalysis(
        database_name=database_name,
        samples=len(samples),
        errors=sum(1 for s in samples if s.error),
        window_start=start,
        window_end=end,
        window_seconds=round(window, 3),
        queries_per_second=round(len(samples) / window, 3),
        avg_ms=round(sum(durations) / len(durations), 3),
        p50_ms=round(percentile(durations, 50), 3),
        p95_ms=round(percentile(durations, 95), 3),
        p99_ms=round(percentile(durations, 99), 3),
        max_ms=round(durations[-1], 3),
        top_by_total_time=stats[:top],
    )
