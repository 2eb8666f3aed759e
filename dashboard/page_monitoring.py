"""The monitoring page: drift over time per feature, bias by segment, check rates, throughput
and latency, as charts; the Evidently report of a window on demand.

Everything comes from what the drift and bias monitor stored in Redis (``MonitorStore``):
window summaries (one small JSON each) for drift, bias and rates, and each window's kept rows
(decompressed once per window and process, ``st.cache_data``: a stored window never changes)
for latency percentiles and per-check scores. The Evidently HTML (~4 MB) is rendered by the
monitor when asked, fetched once, cached, and shown only behind a button: never per tick.
"""

from __future__ import annotations

import base64
import math
import zlib
from datetime import UTC, datetime
from typing import Any

import altair as alt
import orjson
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from vigil.dashboard.auth import User
from vigil.dashboard.exceptions import PermissionDenied
from vigil.dashboard.roles import require
from vigil.reviewers.exceptions import queue_errors
from vigil.streams.monitoring.store import MonitorStore

WINDOWS = 100
CHECK_PREFIX = "check_"  # the monitor's per-check score columns (streams/monitoring/features)
_REPORT_WINDOW, _REPORT_ASKED, _REPORT_READY = "report_window", "report_asked", "report_ready"


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def drift_frame(windows: list[dict[str, Any]]) -> pd.DataFrame:
    """Per window (rows) and feature (columns): the drift score over its threshold, so that
    features measured differently share one axis (above 1.0: that feature drifted)."""
    rows: dict[datetime, dict[str, float]] = {}
    for w in windows:
        drift = w.get("drift") or {}
        for c in drift.get("columns", []):
            threshold = float(c.get("threshold") or 0.0)
            if threshold > 0:
                rows.setdefault(_time(w["closed_at"]), {})[c["column"]] = (
                    float(c["score"]) / threshold
                )
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def rates_frame(windows: list[dict[str, Any]]) -> pd.DataFrame:
    """Per window: results per minute and the share any check flagged."""
    rows = {}
    for w in windows:
        seconds = max(1e-3, float(w["closed_at"]) - float(w.get("opened_at") or w["closed_at"]))
        rows[_time(w["closed_at"])] = {
            "results per minute": 60.0 * int(w.get("rows", 0)) / seconds,
            "flag rate": float(w.get("flag_rate", 0.0)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def bias_frame(window: dict[str, Any]) -> pd.DataFrame:
    """The latest window's per-segment comparisons (ratio under 0.8: the four-fifths rule)."""
    found = window.get("bias") or []
    return pd.DataFrame(
        [
            {
                "segment": f"{b['attribute']}={b['value']}",
                "metric": b["metric"],
                "ratio": float(b["ratio"]),
                "disparate": bool(b.get("disparate")),
                "rows": int(b.get("segment_rows", 0)),
            }
            for b in found
        ]
    )


@st.cache_data(max_entries=WINDOWS * 2, show_spinner=False)
def window_stats(_store: MonitorStore, monitor: str, window_id: str) -> dict[str, float]:
    """Latency percentiles and mean check scores of one stored window (cached: immutable)."""
    blob = _store.window_rows(window_id)
    if blob is None:
        return {}
    rows = orjson.loads(zlib.decompress(blob))
    out: dict[str, float] = {}
    latencies = sorted(float(r["latency_ms"]) for r in rows if r.get("latency_ms") is not None)
    if latencies:
        out["latency p50 (ms)"] = latencies[len(latencies) // 2]
        out["latency p95 (ms)"] = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    names = {k for r in rows for k in r if k.startswith(CHECK_PREFIX)}
    for name in sorted(names):
        values = [float(r[name]) for r in rows if isinstance(r.get(name), int | float)]
        values = [v for v in values if not math.isnan(v)]
        if values:
            out[name.removeprefix(CHECK_PREFIX)] = sum(values) / len(values)
    return out


@st.cache_data(ttl=3600, max_entries=4, show_spinner=False)
def report_html(_store: MonitorStore, monitor: str, window_id: str) -> str | None:
    return _store.html(window_id)


def render(store: MonitorStore, user: User, refresh_s: float) -> None:
    st.title("Monitoring")
    st.fragment(run_every=max(10.0, refresh_s))(_charts)(store)
    _report(store, user)


def _charts(store: MonitorStore) -> None:
    try:
        windows = store.windows(WINDOWS)
        meta = store.reference_meta()
    except queue_errors() as exc:
        st.error(f"Cannot read the monitor's store: {exc}")
        return
    if meta is None:
        st.info("The monitor has no reference yet (collecting a baseline, or not running).")
    if not windows:
        st.info("No window has closed yet: charts appear after the first one.")
        return
    latest = windows[0]
    st.text(
        f"{len(windows)} windows, latest {latest['window_id']} closed "
        f"{_time(latest['closed_at']):%Y-%m-%d %H:%M:%S} UTC with {latest['rows']} results"
    )
    st.subheader("Drift over time, per feature")
    st.text("Score / threshold per window: above 1.0 that feature drifted from the reference.")
    drift = drift_frame(windows)
    if drift.empty:
        st.text("(no judged window yet)")
    else:
        st.line_chart(drift, height=320)
    share = {
        _time(w["closed_at"]): float((w.get("drift") or {}).get("share_drifted", 0.0))
        for w in windows
        if w.get("drift")
    }
    if share:
        st.text("Share of features drifted")
        st.area_chart(pd.Series(share, name="share drifted").sort_index(), height=160)

    st.subheader("Bias by segment (latest window)")
    bias = bias_frame(latest)
    if bias.empty:
        st.text("(no segment large enough to compare yet)")
    else:
        st.text("Disparity ratio per segment and metric: under 0.8 fails the four-fifths rule.")
        bars = (
            alt.Chart(bias)
            .mark_bar()
            .encode(
                x=alt.X("ratio:Q", scale=alt.Scale(domain=[0, 1])),
                y=alt.Y("segment:N", title=None),
                color=alt.Color("disparate:N"),
                row=alt.Row("metric:N", title=None),
                tooltip=["segment", "metric", "ratio", "rows"],
            )
        )
        st.altair_chart(bars, width="stretch")

    st.subheader("Throughput and check rates")
    rates = rates_frame(windows)
    rate_cols = st.columns(2)
    with rate_cols[0]:
        st.text("Results per minute")
        st.line_chart(rates["results per minute"], height=220)
    with rate_cols[1]:
        st.text("Share of results a check flagged")
        st.line_chart(rates["flag rate"], height=220)
    stats = {
        _time(w["closed_at"]): window_stats(store, store.monitor, w["window_id"]) for w in windows
    }
    frame = pd.DataFrame.from_dict(stats, orient="index").sort_index()
    latency_cols = [c for c in frame.columns if c.startswith("latency")]
    check_cols = [c for c in frame.columns if not c.startswith("latency")]
    if latency_cols:
        st.subheader("Latency")
        st.line_chart(frame[latency_cols], height=220)
    if check_cols:
        st.subheader("Mean check score per window")
        st.line_chart(frame[check_cols], height=220)


def _report(store: MonitorStore, user: User) -> None:
    st.subheader("Evidently report")
    try:
        ids = store.window_ids(20)
    except queue_errors() as exc:
        st.error(f"Cannot read the monitor's store: {exc}")
        return
    if not ids:
        st.text("(no window yet)")
        return
    window = str(st.selectbox("Window", ids, key=_REPORT_WINDOW))
    if st.session_state.get(_REPORT_READY) == window:
        _show_report(store, window)
    elif st.session_state.get(_REPORT_ASKED) == window:
        # Polls only whether the report is there (a set lookup), never the report itself.
        st.fragment(run_every=2.0)(_poll_report)(store, window)
    elif st.button("Get the Evidently report", key="get_report"):
        try:
            require(user.name, user.role, "request_report")
            store.request_html(window)
        except PermissionDenied as exc:
            st.error(str(exc))
            return
        except queue_errors() as exc:
            st.error(f"Cannot ask the monitor: {exc}")
            return
        st.session_state[_REPORT_ASKED] = window
        st.rerun()


def _poll_report(store: MonitorStore, window: str) -> None:
    try:
        waiting = window in store.html_requests()
    except queue_errors() as exc:
        st.error(f"Cannot ask the monitor: {exc}")
        return
    if waiting:
        st.info("The monitor is rendering the report (a few seconds)...")
        return
    st.session_state[_REPORT_READY] = window
    st.rerun()  # the whole page, once: the report is shown outside this ticking fragment


def _show_report(store: MonitorStore, window: str) -> None:
    try:
        html = report_html(store, store.monitor, window)
    except queue_errors() as exc:
        st.error(f"Cannot read the report: {exc}")
        return
    if html is None:
        report_html.clear()
        st.session_state.pop(_REPORT_READY, None)
        st.session_state.pop(_REPORT_ASKED, None)
        st.error("No report for this window: the monitor could not render it (see its log).")
        return
    st.download_button(
        "Download the report (HTML)",
        html,
        file_name=f"evidently-{window}.html",
        mime="text/html",
        key="download_report",
    )
    if st.toggle("Show it here", key="show_report"):
        # A data: URL gives the frame an opaque origin of its own: the report's scripts (and
        # the model text it quotes) cannot reach the console's page, as a srcdoc frame could.
        url = "data:text/html;base64," + base64.b64encode(html.encode()).decode("ascii")
        components.iframe(url, height=900, scrolling=True)
