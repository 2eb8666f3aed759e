"""The alerts page: drift, bias and counterfactual alerts, newest first, each with buttons that
open its sampled items (the monitor put them in the review queue, tagged with the alert).

Alert titles and summaries are written by the monitor from feature and segment names, and
segment values come from request metadata: all of it is shown as text.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from vigil.dashboard import nav
from vigil.dead_letters import explain
from vigil.reviewers.exceptions import queue_errors
from vigil.reviewers.queue import ReviewQueue
from vigil.streams.monitoring.store import MonitorStore
from vigil_client.contracts import Alert

LIMIT = 50


def render(store: MonitorStore, queue: ReviewQueue, refresh_s: float) -> None:
    st.title("Alerts")
    st.fragment(run_every=max(5.0, refresh_s))(_alerts)(store, queue)


def _alerts(store: MonitorStore, queue: ReviewQueue) -> None:
    try:
        alerts = store.alerts(LIMIT)
    except queue_errors() as exc:
        st.error(f"Cannot read the alerts: {exc}")
        return
    _dead_letters(store)
    raised = [a for a in alerts if a.status == "raised"]
    st.metric("Alerts (latest 50)", len(alerts))
    st.text(f"{len(raised)} raised, {len(alerts) - len(raised)} resolved")
    if not alerts:
        st.info("No drift or bias alert so far.")
        return
    for n, alert in enumerate(alerts):
        with st.container(border=True, key=f"alert-{n}"):
            _alert(alert, queue, n)


def _alert(alert: Alert, queue: ReviewQueue, n: int) -> None:
    st.text(f"[{alert.status}] {alert.kind}: {alert.title}")
    st.text(
        f"{alert.created_at:%Y-%m-%d %H:%M:%S} UTC   monitor {alert.monitor}   "
        f"window {alert.window_id or '-'}   model versions {', '.join(alert.model_versions) or '-'}"
    )
    st.text(alert.summary)
    if alert.features:
        st.dataframe(
            pd.DataFrame([f.model_dump() for f in alert.features]),
            hide_index=True,
            width="stretch",
        )
    if alert.segment is not None:
        s = alert.segment
        st.text(
            f"Segment {s.attribute}={s.value}: {s.metric} {s.segment_value:.3f} vs "
            f"{s.rest_value:.3f} for the rest (ratio {s.ratio:.2f}, p={s.p_value:.2g}, "
            f"{s.segment_rows} vs {s.rest_rows} results)"
        )
    if not alert.sample_request_ids:
        return
    try:
        in_review = queue.count_view(f"alert:{alert.alert_id}")
    except queue_errors():
        in_review = -1
    pending = f"{in_review} still in review" if in_review >= 0 else "review state unknown"
    st.text(f"Sampled items ({len(alert.sample_request_ids)}, {pending}):")
    cols = st.columns(min(5, len(alert.sample_request_ids)))
    for i, rid in enumerate(alert.sample_request_ids):
        with cols[i % len(cols)]:
            st.text(rid)
            if st.button("Open item", key=f"alert-{n}-open-{i}"):
                nav.open_item(rid)
                st.rerun()  # the whole app: it switches to the item page


def _dead_letters(store: MonitorStore) -> None:
    """Product requests that got no answer, and why (the error is the failing hop's text)."""
    counts = store.dead_letter_counts()
    if not counts:
        return
    by_reason = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
    with st.expander(f"Requests without an answer: {by_reason}", expanded=False):
        explained: set[str] = set()
        for letter in store.dead_letters(5):
            st.text(
                f"{letter.get('created_at', '')}  {letter.get('request_id') or '-'}  "
                f"{letter.get('stage', '')} {letter.get('reason', '')}: {letter.get('error') or ''}"
            )
            why = explain(str(letter.get("reason", "")), letter.get("error"))
            if why and why not in explained:
                explained.add(why)
                st.info(why)
