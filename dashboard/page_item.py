"""The item page: the question, the reasoning step by step with its evidence, the samples, the
answer, the risk score and why, the decisions so far, and (for the claim holder) the form.

Claims: "Claim this item" takes a seat on it (or "Claim next" from anywhere); while the page
is open a fragment renews the claim, but only while the reviewer is active (an open tab left
alone does not hold an item for ever: after ``IDLE_LEASES`` lease periods without any
interaction the renewals stop and the claim lapses).
"""

from __future__ import annotations

import time

import streamlit as st

from vigil.dashboard import actions, decision_form, item_parts, nav, page_queue, reliability
from vigil.dashboard.auth import User
from vigil.dashboard.exceptions import PermissionDenied
from vigil.dashboard.roles import allowed, may_see_pii
from vigil.dashboard.text_view import has_pii, shown_item
from vigil.exceptions import ContractError
from vigil.reviewers.claims import Claim
from vigil.reviewers.exceptions import queue_errors
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil_client.contracts import ReviewState

IDLE_LEASES = 3
LAST_ACTIVE = "last_active"


def _action_errors() -> tuple[type[BaseException], ...]:
    return (PermissionDenied, *queue_errors())


def mark_active() -> None:
    """Called on every full run of the app (a user interaction), not on fragment ticks."""
    st.session_state[LAST_ACTIVE] = time.time()


def _deadline(state: ReviewState | None) -> str:
    if state is None or state.deadline_ms <= 0:
        return "-"
    left_s = state.deadline_ms / 1000 - time.time()
    if left_s < 0:
        return f"overdue {(-left_s) / 60:.0f} min"
    return f"in {left_s / 60:.0f} min" if left_s < 5400 else f"in {left_s / 3600:.1f} h"


def render(
    queue: ReviewQueue,
    user: User,
    settings: VigilSettings,
    request_id: str,
    table: reliability.ReliabilityTable | None,
) -> None:
    back_col, next_col, _ = st.columns([1, 1, 4])
    back_col.button("← Back to queue", key="back", on_click=nav.go, args=("queue",), shortcut="B")
    with next_col:
        page_queue.claim_next_button(queue, user, key="claim_next_item")
    if message := nav.take_flash():
        st.success(message)
    try:
        item = queue.get(request_id)
        state = queue.review_state(request_id)
        held = actions.my_claim(queue, user, request_id) if allowed(user.role, "claim") else None
        claims = queue.claims(request_id)
    except queue_errors() as exc:
        st.error(f"Cannot load this item: {exc}")
        return
    except ContractError as exc:
        st.error(f"This item is unreadable: {exc}")
        return
    if item is None:
        st.error("This review item does not exist (any more): settled past retention, or erased.")
        return

    st.title("Review item")
    st.code(item.request_id, language=None)
    see_pii = may_see_pii(user.role, settings.console.pii_roles)
    shown = shown_item(item, see_pii)
    cols = st.columns(5)
    cols[0].metric("State", state.state if state else "unknown")
    cols[1].metric("Tier", state.tier if state else "-")
    cols[2].metric("Verdicts", f"{state.done} of {state.required}" if state else "-")
    cols[3].metric("SLA deadline", _deadline(state))
    cols[4].metric("SLA breaches", state.breaches if state else 0)
    st.text(f"Model: {item.model_name} {item.model_version}")
    st.text(f"Product: {item.product or '-'}   Tenant: {item.tenant or '-'}")
    if item.metadata:
        st.text("Metadata: " + ", ".join(f"{k}={v}" for k, v in sorted(item.metadata.items())))
    if item.route or item.tags:
        st.text(f"Route: {item.route or '-'}   Tags: {', '.join(item.tags) or '-'}")
    if shown.redacted:
        st.info("Personal data is masked: your role may not see it.")
    elif has_pii(item):
        st.warning("This item holds personal data (shown: your role may see it).")

    pending = state is not None and state.state == "pending"
    if pending:
        _claim_bar(queue, user, request_id, held, [c for c in claims if c.reviewer != user.name])
        if held is not None:
            _keep_claim(queue, user, request_id, settings.review.lease_s)

    try:
        decisions = queue.decisions(request_id)
        final = queue.decision(request_id) if not pending else None
        events = queue.audit(request_id)
    except queue_errors() as exc:
        st.error(f"Cannot load the decisions: {exc}")
        return
    # Two columns: what the model did on the left, why it was flagged and the decision on
    # the right, so a reviewer reads a step and its verdict side by side.
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Question")
        st.text(shown.prompt)
        item_parts.reasoning(item, shown)
        item_parts.answer(shown)
        item_parts.history(decisions)
    with right:
        item_parts.checks(item, table)
        if not pending:
            st.subheader("Decision")
            item_parts.final_decision(final, show_texts=see_pii or not has_pii(item))
        else:
            decision_form.render(queue, user, item, shown, state, held)
    item_parts.samples(shown)
    item_parts.audit(events)


def _claim_bar(
    queue: ReviewQueue, user: User, request_id: str, held: Claim | None, others: list[Claim]
) -> None:
    now_ms = time.time() * 1000
    live = [c.reviewer for c in others if c.expires_ms > now_ms]
    if live:
        st.text(f"Also claimed by: {', '.join(live)}")
    if not allowed(user.role, "claim"):
        st.warning(f"Your role ({user.role}) can view items but not decide them.")
        return
    if held is None:
        if st.button("Claim this item", key="claim", type="primary", shortcut="K"):
            try:
                actions.claim(queue, user, request_id)
            except PermissionDenied as exc:
                st.error(str(exc))
                return
            except queue_errors() as exc:  # ClaimRefused says why (taken, tier, voted...)
                st.error(str(exc))
                return
            st.rerun()
        return
    st.text(f"You hold a claim on this item until {held.expires_at:%H:%M:%S} UTC.")
    if st.button("Release my claim", key="release", shortcut="U"):
        try:
            actions.release(queue, user, held)
        except _action_errors() as exc:
            st.error(str(exc))
            return
        nav.flash("Claim released: the item is back in the queue.")
        st.rerun()


def _keep_claim(queue: ReviewQueue, user: User, request_id: str, lease_s: float) -> None:
    @st.fragment(run_every=max(5.0, lease_s / 3))
    def renew() -> None:
        idle_s = time.time() - float(st.session_state.get(LAST_ACTIVE, time.time()))
        if idle_s > IDLE_LEASES * lease_s:
            st.warning("Idle for a while: your claim is no longer renewed and will lapse.")
            return
        held = actions.my_claim(queue, user, request_id)
        if held is None:
            st.warning("Your claim has lapsed; claim the item again to decide it.")
            return
        try:
            actions.heartbeat(queue, user, held)
        except _action_errors() as exc:
            st.warning(f"Could not renew your claim: {exc}")

    renew()
