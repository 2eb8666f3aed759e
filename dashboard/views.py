"""The console's pages, as functions that ``app.py`` calls (and tests can reach).

Every string that comes from a model, a prompt or a check goes through ``st.text`` or
``st.code``, which show it verbatim. ``st.markdown``/``st.write``/``st.caption`` would render
Markdown in it: a model answer with ``![x](http://host/...)`` would make the reviewer's
browser fetch that URL. Only fixed labels written here use Markdown-rendering elements.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import redis
import streamlit as st

from dashboard.auth import User, UserDirectory
from reviewers.exceptions import InvalidDecision, ItemNotFound
from reviewers.queue import ReviewQueue
from vigil.contracts import DecisionKind, Evidence, ReviewDecision, ReviewItem
from vigil.exceptions import ContractError
from vigil.settings import VigilSettings, load_settings

PAGE_SIZE = 50
_USER, _PAGE, _SELECTED, _FLASH = "user", "queue_page", "selected_request", "flash"


# --- shared resources (one per process; Streamlit runs sessions as threads) ----------------


@st.cache_resource(show_spinner=False)
def get_settings() -> VigilSettings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def get_queue(redis_url: str) -> ReviewQueue:
    # redis-py clients are thread-safe through their connection pool: one for all sessions.
    return ReviewQueue.from_url(redis_url)


@st.cache_resource(show_spinner=False)
def _users(path: str, mtime_ns: int) -> UserDirectory:
    return UserDirectory.load(Path(path))


def get_users(path: Path) -> UserDirectory:
    """The users file, re-read when it changes (the mtime is part of the cache key)."""
    return _users(str(path), path.stat().st_mtime_ns if path.exists() else 0)


# --- login --------------------------------------------------------------------------------


def current_user(users: UserDirectory) -> User | None:
    """The logged-in user as the users file has it now: a removed user or a changed role
    takes effect at the next rerun, not at the next login."""
    name = st.session_state.get(_USER)
    return users.get(name) if isinstance(name, str) else None


def render_login(users: UserDirectory) -> None:
    st.title("Vigil review console")
    with st.form("login"):
        name = st.text_input("User", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", key="login_submit")
    if not submitted:
        return
    user = users.authenticate(name.strip(), password)
    if user is None:
        st.error("Wrong user name or password.")
        return
    st.session_state[_USER] = user.name
    st.rerun()


def render_sidebar(user: User) -> None:
    with st.sidebar:
        st.text(f"Logged in as {user.name} ({user.role})")
        if st.button("Log out", key="logout"):
            for key in (_USER, _SELECTED, _PAGE, _FLASH):
                st.session_state.pop(key, None)
            st.rerun()


# --- queue --------------------------------------------------------------------------------


def flag_reason(item: ReviewItem) -> str:
    """The first evidence message, preferring checks that flagged the item."""
    for check in sorted(item.checks, key=lambda c: not c.flagged):  # stable: keeps order
        if check.evidence:
            return f"{check.check}: {check.evidence[0].message}"
    return item.checks[0].check if item.checks else ""


def _set_page(page: int) -> None:
    st.session_state[_PAGE] = max(0, page)


@st.fragment(run_every="2s")
def render_queue(queue: ReviewQueue) -> None:
    """The pending list; refreshes itself every 2 s without rerunning the whole page."""
    try:
        total = queue.count_pending()
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(int(st.session_state.get(_PAGE, 0)), pages - 1)
        items = queue.pending(page * PAGE_SIZE, PAGE_SIZE)
    except redis.RedisError as exc:
        st.error(f"Cannot reach Redis: {exc}")
        return
    except ContractError as exc:  # a stored item that no longer parses: say so, don't crash
        st.error(f"A queued item is unreadable: {exc}")
        return
    st.metric("Pending reviews", total)
    if not items:
        st.info("Nothing to review.")
        return
    widths = [3, 1, 2, 5, 1.5]
    for col, label in zip(
        st.columns(widths), ["Request", "Risk", "Model version", "Why"], strict=False
    ):
        col.markdown(f"**{label}**")  # fixed labels only
    for item in items:
        cols = st.columns(widths)
        cols[0].text(item.request_id)
        cols[1].text(f"{item.risk_score:.2f}")
        cols[2].text(item.model_version)
        cols[3].text(flag_reason(item))
        if cols[4].button("Open", key=f"open:{item.request_id}"):
            st.session_state[_SELECTED] = item.request_id
            st.session_state.pop(_FLASH, None)
            st.rerun()  # the whole app, not just this fragment: it switches to the item page
    prev_col, info_col, next_col = st.columns([1, 4, 1])
    prev_col.button(
        "← Previous", key="page_prev", disabled=page == 0, on_click=_set_page, args=(page - 1,)
    )
    info_col.text(f"Page {page + 1} of {pages}")
    next_col.button(
        "Next →", key="page_next", disabled=page >= pages - 1, on_click=_set_page, args=(page + 1,)
    )


def open_item() -> str | None:
    value = st.session_state.get(_SELECTED)
    return value if isinstance(value, str) else None


# --- item ---------------------------------------------------------------------------------


def _evidence_by_step(item: ReviewItem) -> dict[int, list[tuple[str, Evidence]]]:
    out: dict[int, list[tuple[str, Evidence]]] = {}
    for check in item.checks:
        for ev in check.evidence:
            if ev.step_index is not None:
                out.setdefault(ev.step_index, []).append((check.check, ev))
    return out


def render_item(queue: ReviewQueue, request_id: str, user: User) -> None:
    if st.button("← Back to queue", key="back"):
        st.session_state.pop(_SELECTED, None)
        st.session_state.pop(_FLASH, None)
        st.rerun()
    if flash := st.session_state.get(_FLASH):
        st.success(str(flash))
    try:
        item = queue.get(request_id)
        state = queue.state(request_id) or "unknown"
    except (redis.RedisError, ContractError) as exc:
        st.error(f"Cannot load this item: {exc}")
        return
    if item is None:
        st.error("This review item does not exist (any more).")
        return

    st.subheader("Review item")
    st.code(item.request_id, language=None)
    left, right = st.columns(2)
    left.metric("Risk score", f"{item.risk_score:.2f}")
    right.metric("State", state)
    st.text(f"Model: {item.model_name} {item.model_version}")
    if item.product or item.tenant:
        st.text(f"Product: {item.product or '-'}   Tenant: {item.tenant or '-'}")

    st.subheader("Question")
    st.text(item.prompt)

    st.subheader("Reasoning")
    by_step = _evidence_by_step(item)
    if not item.steps:
        st.text(item.output)
    for index, step in enumerate(item.steps):
        faulty = index == item.first_faulty_step
        with st.container(border=True):
            if faulty:
                st.error("⚠ first faulty step")
            st.text(f"Step {index + 1}")
            st.code(step, language=None, wrap_lines=True)
            if faulty:
                for check_name, ev in by_step.get(index, []):
                    st.text(f"{check_name}: {ev.message}")

    st.subheader("Final answer")
    st.code(item.final_answer if item.final_answer is not None else "(none found)", language=None)

    st.subheader("Why it was flagged")
    for check in sorted(item.checks, key=lambda c: (not c.flagged, -c.score)):
        verdict = "flagged" if check.flagged else "not flagged"
        st.text(f"{check.check}: score {check.score:.2f}, {verdict}")
        for ev in check.evidence:
            where = f" (step {ev.step_index + 1})" if ev.step_index is not None else ""
            st.text(f"  - {ev.message}{where}")

    st.subheader("Decision")
    if state == "decided":
        render_decision(queue.decision(request_id))
    else:
        render_decision_form(queue, item, user)


def render_decision(decision: ReviewDecision | None) -> None:
    if decision is None:
        st.warning("Marked decided, but no decision is stored.")
        return
    st.text(
        f"{decision.decision} by {decision.reviewer} at {decision.decided_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    if decision.corrected_answer is not None:
        st.text("Corrected answer:")
        st.code(decision.corrected_answer, language=None)
    if decision.first_wrong_step is not None:
        st.text(f"First wrong step: {decision.first_wrong_step + 1}")
    if decision.comment:
        st.text(f"Comment: {decision.comment}")


def render_decision_form(queue: ReviewQueue, item: ReviewItem, user: User) -> None:
    if not user.can_decide:
        # Only a hint: submit_decision checks the role itself, so the form stays usable and a
        # viewer who submits gets the error from there (as would a forged websocket message).
        st.warning(f"Your role ({user.role}) can view items but not decide them.")
    with st.form("decision"):
        corrected = st.text_input(
            "Corrected final answer (for Correct)", key="corrected_answer", max_chars=2000
        )
        wrong_step = st.number_input(
            "First wrong step (optional, as numbered above)",
            min_value=1,
            max_value=max(1, len(item.steps)),
            value=None,
            step=1,
            key="first_wrong_step",
        )
        comment = st.text_area("Comment (optional)", key="comment", max_chars=4000)
        approve_col, correct_col = st.columns(2)
        approve = approve_col.form_submit_button("Approve", key="approve")
        correct = correct_col.form_submit_button("Correct the answer", key="correct")
    if not (approve or correct):
        return
    try:
        decision = submit_decision(
            queue,
            user,
            item,
            "approve" if approve else "correct",
            corrected_answer=corrected,
            first_wrong_step=None if wrong_step is None else int(wrong_step) - 1,
            comment=comment,
        )
    except (InvalidDecision, ItemNotFound) as exc:
        st.error(str(exc))
        return
    except redis.RedisError as exc:
        st.error(f"Cannot reach Redis, nothing was recorded: {exc}")
        return
    st.session_state[_FLASH] = f"Decision recorded: {decision.decision} ({decision.decision_id})"
    st.rerun()


def submit_decision(
    queue: ReviewQueue,
    user: User,
    item: ReviewItem,
    kind: DecisionKind,
    *,
    corrected_answer: str | None = None,
    first_wrong_step: int | None = None,
    comment: str | None = None,
) -> ReviewDecision:
    """Check the user may decide and the input makes sense, then record the decision.

    ``first_wrong_step`` is an index into ``item.steps`` (0-based), like
    ``ReviewItem.first_faulty_step``; the form shows and asks for 1-based step numbers.
    """
    if not user.can_decide:
        raise InvalidDecision(
            f"{user.name} has role {user.role!r}; only reviewer, lead or admin may decide",
            request_id=item.request_id,
        )
    answer = (corrected_answer or "").strip()
    if kind == "correct" and not answer:
        raise InvalidDecision(
            "a correction needs the corrected final answer", request_id=item.request_id
        )
    if first_wrong_step is not None and not 0 <= first_wrong_step < max(1, len(item.steps)):
        raise InvalidDecision(
            f"step {first_wrong_step + 1} does not exist (the item has {len(item.steps)} steps)",
            request_id=item.request_id,
        )
    fields: dict[str, Any] = {
        "request_id": item.request_id,
        "decision": kind,
        "reviewer": user.name,
        "corrected_answer": answer if kind == "correct" else None,
        "first_wrong_step": first_wrong_step,
        "comment": (comment or "").strip() or None,
        "model_name": item.model_name,
        "model_version": item.model_version,
        "product": item.product,
        "tenant": item.tenant,
        "metadata": item.metadata,
    }
    return queue.decide(ReviewDecision(**fields))
