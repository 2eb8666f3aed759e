"""The decision form of the item page: approve / reject, correct (edit the steps or the
answer, mark the first wrong step, see the diff before saving), escalate with a reason, and
comment. Shown only to a user who holds a live claim on the item (comments: to anyone who may
comment); each press goes through ``actions``, which checks the role again on the server.

Keyboard: A approve, X reject (when the focus is not in a text field), Alt+S save the
correction, Alt+E escalate, Alt+M add the comment (these also from inside a text field).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from vigil.dashboard import actions, nav
from vigil.dashboard.auth import User
from vigil.dashboard.exceptions import PermissionDenied
from vigil.dashboard.roles import allowed
from vigil.dashboard.text_view import ShownItem, edited_steps
from vigil.reviewers.claims import Claim
from vigil.reviewers.correction import correction_diff
from vigil.reviewers.exceptions import queue_errors
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import DecisionKind, ReviewItem, ReviewState


def _key(name: str, item: ReviewItem, state: ReviewState | None) -> str:
    # Per item and version: another item (or the same one after an escalation) starts with
    # fresh fields prefilled from it, not with what was typed for the previous one.
    return f"{name}:{item.request_id}:{state.version if state else 0}"


def _submit(
    queue: ReviewQueue, user: User, item: ReviewItem, kind: DecisionKind, **fields: Any
) -> None:
    try:
        decision = actions.decide(queue, user, item, kind, **fields)
    except PermissionDenied as exc:
        st.error(str(exc))
        return
    except queue_errors() as exc:  # InvalidDecision, StaleClaim, ItemNotFound, Redis errors
        st.error(str(exc))
        return
    if kind == "comment":
        nav.flash("Comment added.")
    elif kind == "escalate":
        nav.flash(f"Escalated to {decision.escalate_to}: your claim is released.")
    elif decision.final:
        nav.flash(f"Decision recorded: {decision.decision} ({decision.decision_id}); settled.")
    else:
        nav.flash(
            f"Decision recorded: {decision.decision} ({decision.decision_id}); the item waits "
            "for the other reviewers' verdicts."
        )
    st.rerun()


def render(
    queue: ReviewQueue,
    user: User,
    item: ReviewItem,
    shown: ShownItem,
    state: ReviewState | None,
    held: Claim | None,
) -> None:
    if held is not None:
        _verdicts(queue, user, item, shown, state, held)
        _correction(queue, user, item, shown, state, held)
        _escalation(queue, user, item, state, held)
    _comment(queue, user, item, state)


def _wrong_step_options(shown: ShownItem) -> list[int | None]:
    return [None, *range(len(shown.steps))]


def _step_label(index: int | None) -> str:
    return "(not marked)" if index is None else f"Step {index + 1}"


def _verdicts(
    queue: ReviewQueue,
    user: User,
    item: ReviewItem,
    shown: ShownItem,
    state: ReviewState | None,
    held: Claim,
) -> None:
    st.subheader("Decide")
    note = st.text_input("Note (optional, kept with the decision)", key=_key("note", item, state))
    approve_col, reject_col = st.columns(2)
    if approve_col.button("Approve", key="approve", type="primary", shortcut="A", width="stretch"):
        _submit(queue, user, item, "approve", held=held, comment=note)
    if reject_col.button("Reject", key="reject", shortcut="X", width="stretch"):
        wrong = st.session_state.get(_key("first_wrong_step", item, state))
        _submit(queue, user, item, "reject", held=held, comment=note, first_wrong_step=wrong)


def _correction(
    queue: ReviewQueue,
    user: User,
    item: ReviewItem,
    shown: ShownItem,
    state: ReviewState | None,
    held: Claim,
) -> None:
    st.subheader("Correct")
    st.text("Edit the steps (one per line) and/or the final answer; the diff shows the change.")
    steps_text = st.text_area(
        "Steps",
        value="\n".join(shown.steps),
        height=max(120, 28 * (len(shown.steps) + 1)),
        key=_key("edit_steps", item, state),
    )
    answer = st.text_input(
        "Corrected final answer",
        value=shown.final_answer or "",
        max_chars=2000,
        key=_key("corrected_answer", item, state),
    )
    options = _wrong_step_options(shown)
    default = item.first_faulty_step if item.first_faulty_step in options else None
    wrong = st.selectbox(
        "First wrong step",
        options,
        index=options.index(default),
        format_func=_step_label,
        key=_key("first_wrong_step", item, state),
    )
    steps = edited_steps(steps_text)
    new_steps = steps if steps != shown.steps else None
    new_answer = answer.strip()
    # Only a changed answer is sent: an unchanged one (perhaps masked) stays the original.
    changed_answer = new_answer if new_answer != (shown.final_answer or "") else None
    # The diff of what is shown (masked text for roles without PII access), as the queue will
    # store it for the unmasked original.
    before = item.model_copy(update={"steps": shown.steps, "final_answer": shown.final_answer})
    diff = correction_diff(before, steps or shown.steps, new_answer or shown.final_answer)
    st.text("Diff (original → corrected):")
    st.code(diff or "(no change yet)", language="diff")
    if st.button("Save correction", key="correct", type="primary", shortcut="Alt+S"):
        _submit(
            queue,
            user,
            item,
            "correct",
            held=held,
            corrected_steps=new_steps,
            corrected_answer=changed_answer,
            first_wrong_step=wrong,
        )


def _escalation(
    queue: ReviewQueue, user: User, item: ReviewItem, state: ReviewState | None, held: Claim
) -> None:
    targets = actions.next_tiers(state.tier if state else "reviewer")
    if not targets:
        return
    st.subheader("Escalate")
    target_col, reason_col = st.columns([1, 3])
    target = target_col.selectbox("To", targets, key=_key("escalate_to", item, state))
    reason = reason_col.text_input(
        "Reason (required)", max_chars=2000, key=_key("escalate_reason", item, state)
    )
    if st.button("Escalate", key="escalate", shortcut="Alt+E"):
        _submit(queue, user, item, "escalate", held=held, reason=reason, escalate_to=target)


def _comment(queue: ReviewQueue, user: User, item: ReviewItem, state: ReviewState | None) -> None:
    if not allowed(user.role, "comment"):
        return
    with st.expander("Add a comment (no claim needed)"):
        text = st.text_area("Comment", max_chars=4000, key=_key("comment", item, state))
        if st.button("Add comment", key="add_comment", shortcut="Alt+M"):
            _submit(queue, user, item, "comment", comment=text)
