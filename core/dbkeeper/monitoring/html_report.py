"""The HTML performance report: one self-contained file, charts as inline SVG.

Why hand-written SVG: the report is mailed around and opened offline, so it
may not load scripts, fonts or style sheets from anywhere; a few dozen lines
of SVG draw the two charts it needs (latency over time, top statements by
total time) without a charting dependency. Every text that came from the
database or the recorder is escaped.
"""

from __future__ import annotations

import datetime
import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbkeeper.monitoring.analysis import percentile
from dbkeeper.monitoring.store import Sample

#: Time buckets of the latency chart at most.
BUCKETS = 60
_WIDTH, _HEIGHT, _PAD = 760, 240, 48
_COLOURS = {"p50": "#2b6cb0", "p95": "#dd6b20", "p99": "#c53030"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:64em;color:#1a202c}
h1{font-size:1.6em;margin-bottom:.1em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #e2e8f0}
.muted{color:#718096}.cards{display:flex;flex-wrap:wrap;gap:.6em}
.card{border:1px solid #e2e8f0;border-radius:6px;padding:.5em .9em;min-width:7em}
.card b{display:block;font-size:1.25em}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #edf2f7;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.9em;background:#f7fafc;padding:0 .2em}
.warning{color:#c05621}.high{color:#c53030}.medium{color:#b7791f}.low{color:#718096}svg text{font-size:11px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "unavailable"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def latency_buckets(samples: Sequence[Sample], buckets: int = BUCKETS) -> list[dict[str, float]]:
    """Samples grouped into at most ``buckets`` equal time slices: start, count and p50/p95/p99 (ms)."""
    if not samples:
        return []
    start = min(s.ts for s in samples)
    end = max(s.ts for s in samples)
    width = max((end - start) / buckets, 1e-9)
    groups: dict[int, list[float]] = {}
    for sample in samples:
        index = min(int((sample.ts - start) / width), buckets - 1)
        groups.setdefault(index, []).append(sample.duration_ms)
    out = []
    for index in sorted(groups):
        values = sorted(groups[index])
        out.append({"ts": start + index * width, "count": float(len(values)), "p50": percentile(values, 50),
                    "p95": percentile(values, 95), "p99": percentile(values, 99)})
    return out


def latency_chart(samples: Sequence[Sample]) -> str:
    """An SVG line chart of p50/p95/p99 latency over the recorded window."""
    points = latency_buckets(samples)
    if not points:
        return '<p class="muted">No statements recorded yet.</p>'
    t0, t1 = points[0]["ts"], points[-1]["ts"]
    top = max([p["p99"] for p in points] + [1e-6])
    inner_w, inner_h = _WIDTH - 2 * _PAD, _HEIGHT - 2 * _PAD

    def x(ts: float) -> float:
        return _PAD + (inner_w * (ts - t0) / (t1 - t0) if t1 > t0 else inner_w / 2)

    def y(ms: float) -> float:
        return _PAD + inner_h - inner_h * ms / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
             f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="latency over time">',
             f'<line x1="{_PAD}" y1="{_PAD + inner_h}" x2="{_PAD + inner_w}" y2="{_PAD + inner_h}" stroke="#a0aec0"/>',
             f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_PAD + inner_h}" stroke="#a0aec0"/>']
    for fraction in (0.0, 0.5, 1.0):
        value = top * fraction
        parts.append(f'<text x="{_PAD - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.2f} ms</text>')
    for ts, anchor in ((t0, "start"), (t1, "end")):
        label = datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        parts.append(f'<text x="{x(ts):.1f}" y="{_HEIGHT - _PAD / 2:.1f}" text-anchor="{anchor}">{label}</text>')
    for offset, (key, colour) in enumerate(_COLOURS.items()):
        path = " ".join(f"{x(p['ts']):.1f},{y(p[key]):.1f}" for p in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{path}"/>')
        parts.append(f'<text x="{_PAD + 8 + offset * 60}" y="{_PAD - 14}" fill="{colour}">{key}</text>')
    parts.append("</svg>")
    return "".join(parts)


def top_queries_chart(top: Sequence[dict[str, Any]]) -> str:
    """An SVG bar chart of the statements that took the most total time."""
    if not top:
        return ""
    rows = list(top)[:10]
    longest = max(float(r["total_ms"]) for r in rows) or 1.0
    bar_h, label_w = 22, 300
    height = bar_h * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
             f'viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="top statements by total time">']
    for index, row in enumerate(rows):
        text = str(row["fingerprint"])
        short = text if len(text) <= 48 else text[:47] + "…"
        width = (_WIDTH - label_w - 90) * float(row["total_ms"]) / longest
        top_y = 5 + index * bar_h
        parts.append(f'<text x="{label_w - 6}" y="{top_y + 15}" text-anchor="end"><title>{_e(text)}</title>'
                     f"{_e(short)}</text>")
        parts.append(f'<rect x="{label_w}" y="{top_y + 3}" width="{max(width, 1):.1f}" height="{bar_h - 6}" '
                     'fill="#4299e1"/>')
        parts.append(f'<text x="{label_w + max(width, 1) + 6:.1f}" y="{top_y + 15}">'
                     f'{float(row["total_ms"]):,.1f} ms</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any], samples: Sequence[Sample]) -> str:
    """The whole report as one HTML document (no external assets)."""
    name = report.get("database_name", "")
    query = report.get("query_performance") or {}
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>dbkeeper performance report: {_e(name)}</title><style>{_CSS}</style></head><body>",
           f"<h1>Performance report: {_e(name)}</h1>",
           f'<p class="muted">generated {_e(report.get("generated_at"))} by dbkeeper</p>']
    out.append("<h2>Query performance</h2>")
    if query:
        cards = [("statements", query["samples"]), ("per second", _num(query["queries_per_second"])),
                 ("avg", _num(query["avg_ms"], " ms", 3)), ("p50", _num(query["p50_ms"], " ms", 3)),
                 ("p95", _num(query["p95_ms"], " ms", 3)), ("p99", _num(query["p99_ms"], " ms", 3)),
                 ("errors", f'{query["errors"]} ({query["error_rate"]:.1%})')]
        out.append('<div class="cards">' + "".join(
            f'<div class="card"><span class="muted">{_e(k)}</span><b>{_e(v)}</b></div>' for k, v in cards) + "</div>")
    out.append("<h3>Latency over time</h3>")
    out.append(latency_chart(samples))
    top = query.get("top_by_total_time") or []
    if top:
        out.append("<h3>Top statements by total time</h3>")
        out.append(top_queries_chart(top))
        out.append("<table><tr><th>statement</th><th>calls</th><th>total ms</th><th>avg ms</th><th>p95 ms</th>"
                   "<th>errors</th></tr>")
        for row in top:
            out.append(f'<tr><td><code>{_e(row["fingerprint"])}</code></td><td class="n">{row["calls"]}</td>'
                       f'<td class="n">{row["total_ms"]:,.3f}</td><td class="n">{row["avg_ms"]:,.3f}</td>'
                       f'<td class="n">{row["p95_ms"]:,.3f}</td><td class="n">{row["errors"]}</td></tr>')
        out.append("</table>")
    out.append("<h2>Database performance</h2>")
    metrics = (report.get("database_performance") or {}).get("metrics")
    if metrics:
        unavailable = metrics.get("unavailable") or {}
        out.append("<table>")
        for key in ("connections_active", "connections_idle", "queries_per_second", "average_query_time_ms",
                    "cache_hit_ratio", "disk_io_mb"):
            value = metrics.get(key)
            cell = (_e(_num(value)) if value is not None
                    else f'unavailable <span class="muted">({_e(unavailable.get(key))})</span>')
            out.append(f"<tr><th>{_e(key)}</th><td>{cell}</td></tr>")
        out.append("</table>")
    else:
        out.append('<p class="muted">No live connection: native statistics were not read.</p>')
    out.append("<h2>Alerts</h2>")
    alerts = report.get("alerts") or []
    out.append("<ul>" + "".join(f'<li class="warning">{_e(a["message"])}</li>' for a in alerts) + "</ul>"
               if alerts else '<p class="muted">None.</p>')
    out.append("<h2>Recommendations</h2>")
    recommendations = report.get("recommendations") or []
    if recommendations:
        out.append("<table><tr><th>check</th><th>confidence</th><th>finding</th><th>fix</th></tr>")
        for rec in recommendations:
            out.append(f'<tr><td>{_e(rec["kind"])}</td><td class="{_e(rec["confidence"])}">{_e(rec["confidence"])}'
                       f'</td><td>{_e(rec["message"])}</td><td><code>{_e(rec["fix"])}</code></td></tr>')
        out.append("</table>")
    else:
        out.append('<p class="muted">None.</p>')
    skipped = report.get("unavailable") or {}
    if skipped:
        out.append("<h3>Checks that could not run</h3><ul>")
        out += [f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in sorted(skipped.items())]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


def write_html(path: str | os.PathLike[str], report: dict[str, Any], samples: Sequence[Sample]) -> Path:
    """Write the report to ``path`` atomically (temp file, fsync, rename)."""
    target = Path(path)
    text = render_html(report, samples)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
