"""The queue page: counts by reason, segment, model version and SLA state; a filtered, paged
list (one page of items is read from Redis, never the whole queue; select a row to open
it); "claim next".

The counts and the list live in a fragment that reruns itself every ``console.refresh_s``,
so the page stays current without a manual refresh and without rerunning the whole app.
Every count is O(1) or O(log n) in Redis (ZCARD, ZCOUNT, and one ZCARD per view), so the
page costs the same with a thousand or a hundred thousand pending items; and the reads are
shared by all sessions for under a second (``queue_snapshot.py``).
"""

from __future__ import annotations

import math

import pyarrow as pa
import streamlit as st

from vigil.dashboard import actions, nav, queue_snapshot
from vigil.dashboard.auth import User
from vigil.dashboard.exceptions import PermissionDenied
from vigil.dashboard.roles import allowed
from vigil.exceptions import ContractError
from vigil.reviewers.exceptions import queue_errors
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil_client.names import FIRST_TIER, tiers_above

_PAGE, _VIEW, _SHOWN, _OPENED = "queue_page", "queue_view", "queue_shown", "queue_opened"
ALL = "all"


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
    fragment = st.fragment(run_every=settings.console.refresh_s)(_live)
    fragment(queue, settings.redis_url, settings.console.page_size)


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


def _count_table(table: pa.Table) -> None:
    """The counts by reason, segment and model version: one small table with a bar per row
    (one element, sent cheaply on every tick, unlike three charts)."""
    if table.num_rows == 0:
        return
    largest = max(table.column("items").to_pylist())
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=min(320, 38 + 35 * table.num_rows),
        column_config={
            "items": st.column_config.ProgressColumn(
                "items", format="%d", min_value=0, max_value=max(1, largest)
            )
        },
    )


def selected_request(rows: list[int], shown: list[str]) -> str | None:
    """The request id of the row a user selected, among the rows the table showed then."""
    return shown[rows[0]] if rows and 0 <= rows[0] < len(shown) else None


def _live(queue: ReviewQueue, queue_key: str, page_size: int) -> None:
    try:
        c = queue_snapshot.counts(queue, queue_key)
    except queue_errors() as exc:
        st.error(f"Cannot reach the review queue: {exc}")
        return
    cols = st.columns(6)
    cols[0].metric("Pending reviews", c.total)
    cols[1].metric("Open at reviewer tier", c.tiers[FIRST_TIER])
    cols[2].metric("Open at lead / ML tier", sum(c.tiers[t] for t in tiers_above(FIRST_TIER)))
    cols[3].metric("Overdue", c.overdue)
    cols[4].metric("Due within 1 h", c.due_soon)
    cols[5].metric("SLA breaches (retained)", c.breached)
    _count_table(c.table)

    tier_views = {f"tier:{t}": n for t, n in c.tiers.items() if n}
    view = _filters({**tier_views, **c.views})
    count = c.total if view == ALL else tier_views.get(view, c.views.get(view, 0))
    pages = max(1, math.ceil(count / page_size))
    page = min(int(st.session_state.get(_PAGE, 0)), pages - 1)
    try:
        shown = queue_snapshot.page(queue, queue_key, view, page * page_size, page_size)
    except queue_errors() as exc:
        st.error(f"Cannot read the queue: {exc}")
        return
    except ContractError as exc:  # a stored item that no longer parses: say so, don't crash
        st.error(f"A queued item is unreadable: {exc}")
        return
    if not shown.items:
        st.info("Nothing to review here.")
        return
    _table(shown)
    prev_col, info_col, next_col = st.columns([1, 4, 1])
    prev_col.button(
        "← Previous", key="page_prev", disabled=page == 0, on_click=_set_page, args=(page - 1,)
    )
    info_col.text(f"Page {page + 1} of {pages} ({count} items)")
    next_col.button(
        "Next →", key="page_next", disabled=page >= pages - 1, on_click=_set_page, args=(page + 1,)
    )


def _table(shown: queue_snapshot.Page) -> None:
    """The page of items as one table (one element, whatever the page size); selecting a
    row opens its item. The table's key changes after each opening, so that coming back to
    the queue starts with nothing selected."""
    opened = int(st.session_state.get(_OPENED, 0))
    event = st.dataframe(
        shown.table,
        key=f"queue_table:{opened}",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=38 + 35 * len(shown.items),
        column_config={
            "risk": st.column_config.ProgressColumn(
                "risk", format="%.2f", min_value=0, max_value=1
            ),
            "why it was flagged": st.column_config.TextColumn(width="large"),
        },
    )
    # Rows are mapped to the ids the user saw, not to a re-read page that may have moved.
    rid = selected_request(list(event.selection.rows), st.session_state.get(_SHOWN, []))
    st.session_state[_SHOWN] = [i.request_id for i in shown.items]
    if rid is not None:
        st.session_state[_OPENED] = opened + 1
        nav.open_item(rid)
        st.rerun()  # the whole app, not just this fragment: it switches to the item page
