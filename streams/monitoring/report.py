"""``vigil monitor-report``: what the monitor stored, as text, and a window's Evidently HTML.

The HTML is rendered from what Redis holds (the stored reference and the window's kept rows),
so it needs no running monitor; the console asks the monitor to render it instead
(``MonitorStore.request_html``), which this same function serves.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from vigil.settings import VigilSettings
from vigil.streams.monitoring import drift
from vigil.streams.monitoring.exceptions import MonitoringError
from vigil.streams.monitoring.reference import Reference
from vigil.streams.monitoring.store import MonitorStore


def render_stored_html(store: MonitorStore, window_id: str) -> str:
    """The full ``DataDriftPreset`` page of a stored window against the stored reference."""
    raw_ref = store.reference()
    blob = store.window_rows(window_id)
    if raw_ref is None:
        raise MonitoringError("the monitor has no reference yet")
    if blob is None:
        raise MonitoringError(f"no stored rows for window {window_id!r} (too old or unknown)")
    reference = Reference.from_bytes(raw_ref)
    rows = orjson.loads(zlib.decompress(blob))
    return drift.render_html(
        reference.frame, drift.frame(rows), reference.columns, reference.calibration
    )


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ci(est: dict[str, Any] | None) -> str:
    if not est:
        return "n/a (too few reviewed)"
    return f"{est['value']:6.1%}  ({est['low']:.1%}-{est['high']:.1%})"


def error_rate_lines(windows: list[dict[str, Any]]) -> list[str]:
    """The estimated share of wrong answers at the newest window that has one, per group."""
    latest = next((w for w in windows if w.get("error_rate")), None)
    if latest is None:
        return ["\nerror rate: not estimated yet (no window with reviewed results)"]
    block = latest["error_rate"]
    model = block.get("model") or {}
    lines = [
        f"\nerror rate at {latest['window_id']} (risk model {model.get('version')}, "
        f"{block.get('windows')} windows, {block.get('labels')} reviewed results)"
        + ("  RISEN" if block.get("risen") else ""),
        f"  {'group':<32} {'screened':>8} {'reviewed':>8}  estimated wrong (95% CI)"
        "        labels alone          model alone",
    ]
    for g in block.get("groups", []):
        lines.append(
            f"  {g['group'][:32]:<32} {g['screened']:>8} {g['labelled']:>8}  "
            f"{_ci(g.get('ppi')):<30} {_ci(g.get('classical')):<21} {g['model_only']:6.1%}"
        )
    return lines


def print_report(
    settings: VigilSettings,
    window_id: str | None,
    html_out: Path | None,
    *,
    echo: Callable[[str], None] = print,
) -> int:
    store = MonitorStore.connect(settings.redis_connection, settings.monitor.app_id)
    if window_id is None:
        meta = store.reference_meta()
        if meta is None:
            echo("reference: none yet (collecting a baseline, or the monitor never ran)")
        else:
            echo(f"reference: {meta['source']}, {meta['rows']} rows, built {meta['built_at']}")
        echo("\nwindow      closed               rows  drifted  share  moved")
        for w in store.windows(20):
            d = w.get("drift") or {}
            moved = [c["column"] for c in d.get("columns", []) if c["drifted"]]
            echo(
                f"{w['window_id']:<11} {_when(w['closed_at'])}  {w['rows']:>5}  "
                f"{'yes' if d.get('drifted') else 'no':<7}  {d.get('share_drifted', 0):.2f}   "
                f"{', '.join(moved) or '-'}"
            )
        for line in error_rate_lines(store.windows(20)):
            echo(line)
        echo("\nalerts (newest first)")
        for a in store.alerts(20):
            echo(f"{_when(a.created_at.timestamp())}  {a.status:<8} {a.kind:<14} {a.title}")
        counts = store.probe_counts()
        if counts:
            echo(f"\nprobes: {counts}")
        return 0
    summary = store.window(window_id)
    if summary is None:
        echo(f"no window {window_id!r}")
        return 1
    echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    if html_out is not None:
        html_out.write_text(render_stored_html(store, window_id))
        echo(f"wrote {html_out}")
    return 0
