"""A small progress line for the CLI: bytes done, MB/s and ETA, on stderr.

Drawn only when stderr is a terminal (or when forced), redrawn at most ten
times a second so it costs nothing on the hot path.
"""

from __future__ import annotations

import sys
import time
from typing import IO


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


class ProgressLine:
    """Callable progress sink: ``progress(bytes_done)``."""

    def __init__(self, label: str, total: int | None = None, *, stream: IO[str] | None = None,
                 enabled: bool | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self._last = 0.0
        self._done = 0

    def __call__(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.1:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-6)
        rate = self._done / elapsed
        parts = [self.label, _size(self._done)]
        if self.total:
            parts[1] += f" / {_size(self.total)} ({100 * self._done / self.total:.0f}%)"
        parts.append(f"{rate / (1 << 20):.1f} MB/s")
        if self.total and rate > 0:
            parts.append(f"ETA {max(self.total - self._done, 0) / rate:.0f}s")
        self.stream.write("\r" + "  ".join(parts) + "\033[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
