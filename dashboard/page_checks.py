"""The checks page (every role): how the checks fare against what reviewers found, and how
often the model is wrong in production.

Two measures, over the items settled in the chosen period (at most ``OUTCOMES_LIMIT``, the
most recent; ``reviewers.outcomes``): each check's precision (of the items it flagged, the
share reviewers found wrong) next to the offline precision measured on labelled data
(``check_reliability.json``), and the miss rate: of the clean results sampled for review
(route ``random-sample``), the share reviewers found wrong. Check names and model versions
come from the data: they are shown in tables and ``st.text`` only, never as Markdown.
Then (``checks_learning.py``) the estimated share of wrong answers in production with its
interval, and each check's confusion matrix and kappa against reviewers.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from vigil.dashboard.auth import User
from vigil.dashboard.checks_learning import render_agreement, render_error_rate
from vigil.dashboard.page_team import open_page, pick_period
from vigil.dashboard.reliability import ReliabilityTable
from vigil.reviewers.exceptions import queue_errors
from vigil.reviewers.outcomes import Proportion, QualityReport, check_quality, settled_outcomes
from vigil.reviewers.queue import ReviewQueue
from vigil.streams.monitoring.store import MonitorStore

OUTCOMES_LIMIT = 5000
NO_SAMPLE = (
    "No random-sample reviews settled in this period, so what the checks miss is not measured. "
    "The screening worker samples `[sampling] clean_rate` of clean results for review (2% by "
    "default; set it in the checks TOML that `VIGIL_CHECKS_CONFIG` names): settle the items "
    "tagged random-sample."
)


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def ci(share: Proportion) -> str:
    bounds = share.interval
    return "" if bounds is None else f"{bounds[0]:.0%}-{bounds[1]:.0%}"


def miss_sentence(share: Proportion) -> str:
    """The miss rate in plain words (only for a sample that is not empty)."""
    return (
        f"Of {share.total} unflagged outputs reviewed, reviewers found {share.hits} wrong: "
        f"the checks miss about {pct(share.value)} (95% CI {ci(share)})."
    )


def precision_table(report: QualityReport, offline: ReliabilityTable | None) -> pd.DataFrame:
    """One row per check flagged in review or measured offline, reviewers' numbers first."""
    measured = {c.check: c for c in report.checks}
    names = sorted(set(measured) | set(offline.checks if offline is not None else {}))
    rows = []
    for name in names:
        row = measured.get(name)
        entry = offline.get(name) if offline is not None else None
        rows.append(
            {
                "check": name,
                "flagged, reviewed": row.precision.total if row else 0,
                "found wrong": row.precision.hits if row else 0,
                "answer wrong": row.answer_wrong if row else 0,
                "precision": pct(row.precision.value) if row else "",
                "95% CI": ci(row.precision) if row else "",
                "offline precision": pct(entry.precision) if entry else "",
                "offline flags": entry.flagged if entry else None,
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:  # nullable integers: a check not in the eval has no count, not 0.0
        frame["offline flags"] = frame["offline flags"].astype("Int64")
    return frame


def miss_table(report: QualityReport) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model version": version,
                "reviewed": share.total,
                "wrong": share.hits,
                "miss rate": pct(share.value),
                "95% CI": ci(share),
            }
            for version, share in report.miss_rate_by_model.items()
        ]
    )


def render(
    queue: ReviewQueue,
    user: User,
    offline: ReliabilityTable | None,
    store: MonitorStore | None = None,
) -> None:
    if not open_page("Checks", user, "view_queue"):
        return
    since_ms = pick_period("checks_period")
    try:
        read = settled_outcomes(queue, since_ms, OUTCOMES_LIMIT)
    except queue_errors() as exc:
        st.error(f"Cannot read the review queue: {exc}")
        return
    report = check_quality(read.outcomes)
    note = " (the most recent only)" if read.truncated else ""
    st.text(
        f"Items settled in this period: {report.reviewed}{note}. Found wrong by reviewers: "
        f"{report.found_wrong} (rejected or corrected), {report.answer_wrong} of them with a "
        "wrong final answer."
    )
    if read.skipped:
        st.text(f"{read.skipped} settled items could not be read (expired or erased meanwhile).")

    render_error_rate(store)

    st.subheader("What the checks miss (random sample of clean results)")
    sample = report.miss_rate
    if sample.total == 0:
        st.info(NO_SAMPLE)
    else:
        cols = st.columns(3)
        cols[0].metric("Unflagged outputs reviewed", sample.total)
        cols[1].metric("Found wrong", sample.hits)
        cols[2].metric("Miss rate", pct(sample.value))
        st.text(miss_sentence(sample))
        st.dataframe(miss_table(report), hide_index=True)

    st.subheader("Precision of each check: reviewers against labelled data")
    st.text(
        "Precision: of the items a check flagged and reviewers settled, the share found wrong. "
        "Offline precision: the share with a wrong answer on labelled data."
    )
    table = precision_table(report, offline)
    if table.empty:
        st.text("(no check flagged a settled item in this period, and none measured offline)")
    else:
        st.dataframe(table, hide_index=True)
    if offline is None:
        st.text("Offline precision: not measured (no check_reliability.json).")
    else:
        st.text(f"Offline: {offline.source}, {offline.generated_at}.")

    render_agreement(read.outcomes)
