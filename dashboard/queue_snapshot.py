"""What the queue page shows, read once per process and shared by every session briefly.

Twenty reviewers with the queue page open rerun its live fragment every few seconds each;
they all look at the same counts and mostly at the same first page. Reading those once per
``ttl_s`` (under a second, less than the refresh period) for all sessions keeps Redis and
the server's one Python interpreter from doing the same work twenty times over. The objects
are shared, so they are immutable: frozen dataclasses, tuples and Arrow tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import streamlit as st

from vigil.dashboard.text_view import flag_reason
from vigil.reviewers.console_reads import open_counts
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewItem

# View kinds as ReviewQueue.view names them, with the label the count table shows.
VIEW_KINDS = {"check": "reason", "segment": "segment", "model": "model version"}
DUE_SOON_S = 3600


@dataclass(frozen=True)
class Counts:
    total: int
    views: dict[str, int]  # ``kind:value`` -> unsettled items
    tiers: dict[str, int]  # tier -> unassigned items with a free seat
    overdue: int
    due_soon: int  # within DUE_SOON_S, overdue included
    breached: int
    table: pa.Table  # by, value, items: the counts by reason, segment and model version


@dataclass(frozen=True)
class Page:
    items: tuple[ReviewItem, ...]
    table: pa.Table  # request, risk, model version, product, why it was flagged


def _counts_table(views: dict[str, int]) -> pa.Table:
    rows = sorted(
        (
            (VIEW_KINDS[kind], value, n)
            for name, n in views.items()
            for kind, _, value in [name.partition(":")]
            if kind in VIEW_KINDS
        ),
        key=lambda r: (list(VIEW_KINDS.values()).index(r[0]), -r[2], r[1]),
    )
    return pa.table(
        {
            "by": [r[0] for r in rows],
            "value": [r[1] for r in rows],
            "items": pa.array([r[2] for r in rows], type=pa.int64()),
        }
    )


@st.cache_resource(ttl=0.8, max_entries=16, show_spinner=False)
def counts(_queue: ReviewQueue, queue_key: str) -> Counts:
    """The queue's counts (``queue_key`` names the queue in the cache: its Redis URL)."""
    views = _queue.view_counts()
    return Counts(
        total=_queue.count_pending(),
        views=views,
        tiers=open_counts(_queue),
        overdue=_queue.count_due(0),
        due_soon=_queue.count_due(DUE_SOON_S),
        breached=_queue.count_breached(),
        table=_counts_table(views),
    )


@st.cache_resource(ttl=0.8, max_entries=256, show_spinner=False)
def page(_queue: ReviewQueue, queue_key: str, view: str, offset: int, limit: int) -> Page:
    """One page of a view: ``all``, ``tier:<tier>`` or a ``ReviewQueue.view`` name."""
    if view == "all":
        found = _queue.pending(offset, limit)
    elif view.startswith("tier:"):
        found = _queue.open_items(view.removeprefix("tier:"), offset, limit)
    else:
        found = _queue.view(view, offset, limit)
    table = pa.table(
        {
            "request": [i.request_id for i in found],
            "risk": pa.array([i.risk_score for i in found], type=pa.float64()),
            "model version": [i.model_version for i in found],
            "product": [i.product or "-" for i in found],
            "why it was flagged": [flag_reason(i) for i in found],
        }
    )
    return Page(items=tuple(found), table=table)
