"""The team page (leads and admins): reviewer throughput, agreement, SLA breaches.

Throughput counts the decisions on items settled in the chosen period (at most
``ACTIVITY_LIMIT`` items, the most recent; ``reviewers.console_reads``). Agreement is
``reviewers.agreement`` over every multi-reviewer version retained. Read-only, and refused
on the server for other roles even if the page were reached.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from vigil.dashboard import nav
from vigil.dashboard.auth import User
from vigil.dashboard.exceptions import PermissionDenied
from vigil.dashboard.roles import Action, require
from vigil.reviewers.agreement import AgreementReport, agreement_report
from vigil.reviewers.console_reads import recent_activity
from vigil.reviewers.exceptions import queue_errors
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import VERDICTS, ReviewDecision

ACTIVITY_LIMIT = 2000
PERIODS_H = {"last 24 hours": 24, "last 7 days": 24 * 7, "last 30 days": 24 * 30}


def open_page(title: str, user: User, action: Action) -> bool:
    """The page's title, then the role check: False (the reason shown) if the user may not."""
    st.title(title)
    try:
        require(user.name, user.role, action)
    except PermissionDenied as exc:
        st.error(str(exc))
        return False
    return True


def pick_period(key: str) -> int:
    """A period selector (widget ``key``); the start of the chosen period, ms since the epoch."""
    period = str(st.selectbox("Period", list(PERIODS_H), key=key))
    return int((time.time() - PERIODS_H[period] * 3600) * 1000)


def throughput(decisions: list[ReviewDecision]) -> pd.DataFrame:
    """Decisions per reviewer and kind (rows: reviewers; columns: decision kinds)."""
    counts = Counter((d.reviewer, d.decision) for d in decisions)
    frame = pd.DataFrame(
        [{"reviewer": r, "decision": k, "count": n} for (r, k), n in counts.items()]
    )
    if frame.empty:
        return frame
    return frame.pivot_table(index="reviewer", columns="decision", values="count", fill_value=0)


def verdicts_per_hour(decisions: list[ReviewDecision]) -> pd.DataFrame:
    """Verdicts per hour and reviewer (rows: hours; columns: reviewers)."""
    counts = Counter(
        (d.decided_at.replace(minute=0, second=0, microsecond=0), d.reviewer)
        for d in decisions
        if d.decision in VERDICTS
    )
    frame = pd.DataFrame([{"hour": h, "reviewer": r, "n": n} for (h, r), n in counts.items()])
    if frame.empty:
        return frame
    return frame.pivot_table(index="hour", columns="reviewer", values="n", fill_value=0)


def render(queue: ReviewQueue, user: User) -> None:
    if not open_page("Team", user, "view_team"):
        return
    since_ms = pick_period("team_period")
    try:
        activity = recent_activity(queue, since_ms, ACTIVITY_LIMIT)
        report = agreement_report(queue.ratings())
        breached_total = queue.count_breached()
        breaches = queue.breached(0, 500)
    except queue_errors() as exc:
        st.error(f"Cannot read the review queue: {exc}")
        return

    st.subheader("Reviewer throughput")
    note = " (the most recent only)" if activity.truncated else ""
    st.text(f"{len(activity.decisions)} decisions on {activity.items} items settled{note}.")
    table = throughput(activity.decisions)
    if table.empty:
        st.text("(no settled item in this period)")
    else:
        st.bar_chart(table, horizontal=True, height=max(160, 80 + 40 * len(table)))
        hourly = verdicts_per_hour(activity.decisions)
        if not hourly.empty:
            st.text("Verdicts per hour")
            st.bar_chart(hourly, height=220)

    _agreement(report)
    _breaches(breached_total, breaches)


def _agreement(report: AgreementReport) -> None:
    st.subheader("Agreement")
    cols = st.columns(3)
    cols[0].metric("Items with 2+ reviewers", report.items)
    cols[1].metric("Disagreements (to a lead)", report.disagreements)
    cols[2].metric("Krippendorff's alpha", "n/a" if report.alpha is None else f"{report.alpha:.2f}")
    kappas = {r: k for r, k in report.kappa_by_reviewer.items() if k is not None}
    if kappas:
        st.text("Cohen's kappa of each reviewer against the reviewers paired with")
        st.bar_chart(pd.Series(kappas, name="kappa"), horizontal=True)
    alphas = {c: a for c, a in report.alpha_by_check.items() if a is not None}
    if alphas:
        st.text("Krippendorff's alpha per check that flagged the items")
        st.bar_chart(pd.Series(alphas, name="alpha"), horizontal=True)


def _breaches(total: int, breaches: list[tuple[str, int]]) -> None:
    st.subheader("SLA breaches")
    st.metric("Items that breached an SLA (retained)", total)
    if not breaches:
        return
    per_hour = Counter(
        datetime.fromtimestamp(ms / 1000, UTC).replace(minute=0, second=0, microsecond=0)
        for _, ms in breaches
    )
    st.bar_chart(pd.Series(per_hour, name="breaches").sort_index(), height=200)
    st.text("Latest breaches")
    for n, (rid, ms) in enumerate(breaches[:10]):
        cols = st.columns([4, 2, 1])
        cols[0].text(rid)
        cols[1].text(f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M:%S} UTC")
        if cols[2].button("Open", key=f"breach-open-{n}"):
            nav.open_item(rid)
            st.rerun()
