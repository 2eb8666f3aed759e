"""The queue page: counts by reason, segment, model version and SLA state; a filtered, paged
list (one page of items is read from Redis, never the whole queue); "claim next".

The counts and the list live in a fragment that reruns itself every ``console_refresh_s``,
so the page stays current without a manual refresh and without rerunning the whole app.
Every count is O(1) or O(log n) in Redis (ZCARD, ZCOUNT, and one ZCARD per view), so the
page costs the same with a thousand or a hundred thousand pending items.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import actions, nav
from dashboard.auth import User
from dashboard.exceptions import PermissionDenied
from dashboard.roles import allowed
from dashboard.text_view import flag_reason
from reviewers.console_reads import open_counts
from reviewers.exceptions import queue_errors
from reviewers.queue import ReviewQueue
from vigil.exceptions import ContractError
from vigil.settings import VigilSettings

_PAGE, _VIEW = "queue_page", "queue_view"
ALL = "all"
# View kinds as ReviewQueue.view names them, with the heading of their count chart.
VIEW_KINDS = {"check": "By reason (check)", "segment": "By segment", "model": "By model version"}
SLA_HORIZONS_S = {"due in 15 min": 900, "due in 1 h": 3600}


def _set_page(page: int) -> None:
    st.session_state[_PAGE] = max(0, page)


def _reset_page() -> None:
    st.session_state[_PAGE] = 0


def claim_next_button(queue: ReviewQueue, user: User, key: str = "claim_next") -> None:
    """ "Claim next" (shortcut N): claims the most urgent item this user may take and opens it."""
    if not allowed(user.role, "claim"):
        return
    if not st.button("Claim next", key=key, type="primary", shortcut="N"):
        return
    try:
        claimed = actions.claim_next(queue, user)
    except PermissionDenied as exc:
        st.error(str(exc))
        return
    except queue_errors() as exc:
        st.error(f"Cannot claim now: {exc}")
        return
    if claimed is None:
        st.info("Nothing you may claim right now.")
        return
    nav.open_item(claimed.request_id)
    nav.flash(f"Claimed; your claim lasts until {claimed.expires_at:%H:%M:%S} UTC.")
    st.rerun()


def render(queue: ReviewQueue, user: User, settings: VigilSettings) -> None:
    st.title("Review queue")
    claim_next_button(queue, user)
    if not allowed(user.role, "claim"):
        st.info("Your role can look at the queue but not claim items.")
    fragment = st.fragment(run_every=settings.console_refresh_s)(_live)
    fragment(queue, settings.console_page_size)


def _filters(options: dict[str, int]) -> str:
    labels = {ALL: "All pending", **{v: f"{v}  ({n})" for v, n in options.items()}}
    chosen = st.session_state.get(_VIEW, ALL)
    if chosen not in labels:  # the view emptied since: keep it selectable, with 0
        labels[chosen] = f"{chosen}  (0)"
    return str(
        st.selectbox(
            "Show",
            list(labels),
            format_func=labels.__getitem__,
            key=_VIEW,
            on_change=_reset_page,
        )
    )


def _count_chart(title: str, counts: dict[str, int], prefix: str) -> None:
    st.text(title)
    if not counts:
        st.text("(none)")
        return
    series = pd.Series({k.removeprefix(prefix): v for k, v in counts.items()}, name="items")
    st.bar_chart(series, horizontal=True, height=40 + 24 * len(series), y_label="", x_label="")


def _live(queue: ReviewQueue, page_size: int) -> None:
    try:
        total = queue.count_pending()
        views = queue.view_counts()
        tiers = open_counts(queue)
        due = {label: queue.count_due(s) for label, s in SLA_HORIZONS_S.items()}
        overdue = queue.count_due(0)
        breached = queue.count_breached()
    except queue_errors() as exc:
        st.error(f"Cannot reach the review queue: {exc}")
        return
    cols = st.columns(6)
    cols[0].metric("Pending reviews", total)
    cols[1].metric("Open at reviewer tier", tiers["reviewer"])
    cols[2].metric("Open at lead / ML tier", tiers["lead"] + tiers["ml_team"])
    cols[3].metric("Overdue", overdue)
    cols[4].metric("Due within 1 h", due["due in 1 h"])
    cols[5].metric("SLA breaches (retained)", breached)

    chart_cols = st.columns(len(VIEW_KINDS))
    for col, (kind, title) in zip(chart_cols, VIEW_KINDS.items(), strict=True):
        with col:
            _count_chart(
                title, {k: v for k, v in views.items() if k.startswith(f"{kind}:")}, f"{kind}:"
            )

    tier_views = {f"tier:{t}": n for t, n in tiers.items() if n}
    view = _filters({**tier_views, **views})
    count = total if view == ALL else tier_views.get(view, views.get(view, 0))
    pages = max(1, math.ceil(count / page_size))
    page = min(int(st.session_state.get(_PAGE, 0)), pages - 1)
    try:
        if view == ALL:
            items = queue.pending(page * page_size, page_size)
        elif view.startswith("tier:"):
            items = queue.open_items(view.removeprefix("tier:"), page * page_size, page_size)
        else:
            items = queue.view(view, page * page_size, page_size)
    except queue_errors() as exc:
        st.error(f"Cannot read the queue: {exc}")
        return
    except ContractError as exc:  # a stored item that no longer parses: say so, don't crash
        st.error(f"A queued item is unreadable: {exc}")
        return
    if not items:
        st.info("Nothing to review here.")
        return
    widths = [3, 1, 2, 1.5, 5, 1.2]
    header = ["Request", "Risk", "Model version", "Product", "Why it was flagged", ""]
    for col, label in zip(st.columns(widths), header, strict=True):
        col.text(label)  # fixed labels
    for item in items:
        row = st.columns(widths)
        row[0].text(item.request_id)
        row[1].text(f"{item.risk_score:.2f}")
        row[2].text(item.model_version)
        row[3].text(item.product or "-")
        row[4].text(flag_reason(item))
        if row[5].button("Open", key=f"open:{item.request_id}"):
            nav.open_item(item.request_id)
            st.rerun()  # the whole app, not just this fragment: it switches to the item page
    prev_col, info_col, next_col = st.columns([1, 4, 1])
    prev_col.button(
        "← Previous", key="page_prev", disabled=page == 0, on_click=_set_page, args=(page - 1,)
    )
    info_col.text(f"Page {page + 1} of {pages} ({count} items)")
    next_col.button(
        "Next →", key="page_next", disabled=page >= pages - 1, on_click=_set_page, args=(page + 1,)
    )
