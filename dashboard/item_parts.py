"""The read-only parts of the item page: reasoning step by step with the evidence anchored on
its steps, the k samples side by side, each check explaining itself, the decisions so far.

All model, prompt, check and reviewer text goes through ``st.text``/``st.code`` (verbatim)
or ``st.dataframe`` cells; fixed labels written here are the only other text.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from vigil.dashboard import reliability
from vigil.dashboard.text_view import ShownItem, anchored, evidence_by_step
from vigil_client.contracts import ReviewDecision, ReviewEvent, ReviewItem
from vigil_client.names import VERIFIER_CHECK

FIRST_FAULTY = "First faulty step"


def reasoning(item: ReviewItem, shown: ShownItem) -> None:
    """Each step in its own box: the check evidence that points at it underneath, the span
    it points at marked with carets, and the first faulty step in red."""
    st.subheader("Reasoning, step by step")
    if not shown.aligned:
        st.warning(
            "Personal data was masked; the steps could not be matched, so here is the "
            "masked output as a whole."
        )
        st.code(shown.output, language=None, wrap_lines=True)
        return
    if not shown.steps:
        st.text("(the output has no steps)")
        st.code(shown.output, language=None, wrap_lines=True)
        return
    by_step = evidence_by_step(item)
    for index, step in enumerate(shown.steps):
        found = by_step.get(index, [])
        faulty = index == item.first_faulty_step
        with st.container(border=True, key=f"step-{index}"):
            if faulty:
                st.error(FIRST_FAULTY, icon="⚠️")
            st.text(f"Step {index + 1}")
            # Spans are positions in the unmasked step: only mark them on that text.
            spans = [ev.span for _, ev in found if ev.span is not None and not shown.redacted]
            st.code(anchored(step, spans), language=None, wrap_lines=True)
            for check, ev in found:
                mark = "fired" if check.flagged else "noted"
                if check.check == VERIFIER_CHECK:
                    # Said apart from the checks' computed findings: a model's words (as
                    # text: its reason is model output, never rendered as Markdown).
                    st.text(f"verifier, a model's opinion, not a computed finding ({mark}):")
                    st.text(f"  {ev.message}")
                else:
                    st.text(f"{check.check} ({mark}): {ev.message}")


def answer(shown: ShownItem) -> None:
    st.subheader("Final answer")
    st.code(shown.final_answer if shown.final_answer is not None else "(none found)", language=None)


def samples(shown: ShownItem) -> None:
    """The output and its k-1 extra samples, side by side (at most four per row)."""
    st.subheader("Self-consistency samples")
    if shown.samples is None:
        st.info("Samples are hidden: this item holds personal data your role may not see.")
        return
    if not shown.samples:
        st.text("No extra samples were requested for this item.")
        return
    texts = [shown.output, *shown.samples]
    per_row = min(4, len(texts))
    for start in range(0, len(texts), per_row):
        cols = st.columns(per_row)
        for offset, text in enumerate(texts[start : start + per_row]):
            n = start + offset
            with cols[offset]:
                st.text("Output (reviewed)" if n == 0 else f"Sample {n + 1}")
                st.code(text, language=None, wrap_lines=True)


def checks(item: ReviewItem, table: reliability.ReliabilityTable | None) -> None:
    """Risk score and why: every check, flagged first, with what it checks, why it fired here
    (its evidence) and how reliable it is (precision measured on labelled data)."""
    st.subheader("Risk score and why")
    st.metric("Risk score", f"{item.risk_score:.2f}")
    ordered = sorted(item.checks, key=lambda c: (not c.flagged, -c.score))
    for n, check in enumerate(ordered):
        with st.container(border=True, key=f"check-{n}"):
            verdict = "FIRED" if check.flagged else "did not fire"
            st.text(f"{check.check}: {verdict}, score {check.score:.2f}")
            st.text(f"What it checks: {reliability.describe(check.check)}")
            if check.evidence:
                st.text("Why, here:")
                for ev in check.evidence:
                    where = f" (step {ev.step_index + 1})" if ev.step_index is not None else ""
                    st.text(f"  - {ev.message}{where}")
            elif check.flagged:
                st.text("Why, here: (the check gave no evidence)")
            entry = table.get(check.check) if table is not None else None
            st.text(reliability.reliability_line(entry, table))


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def history(decisions: list[ReviewDecision]) -> None:
    st.subheader("Decisions and comments so far")
    if not decisions:
        st.text("None yet.")
        return
    escalations = [d for d in decisions if d.decision == "escalate"]
    if escalations:  # what the next tier most needs to know, outside the table
        last = escalations[-1]
        st.text(f"Escalated by {last.reviewer} to {last.escalate_to}: {last.reason or ''}")
    rows = [
        {
            "when (UTC)": _when(d.decided_at),
            "reviewer": d.reviewer,
            "decision": d.decision,
            "tier": d.tier,
            "final": d.final,
            "to": d.escalate_to or "",
            "reason / comment": " / ".join(x for x in (d.reason, d.comment) if x),
        }
        for d in decisions
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def final_decision(decision: ReviewDecision | None, show_texts: bool) -> None:
    """The decision that settled the item; the correction's texts only when ``show_texts``
    (they repeat the unmasked original for a diff, so roles without PII access don't get
    them on an item with personal data)."""
    if decision is None:
        st.warning("Marked decided, but no decision is stored.")
        return
    st.text(f"{decision.decision} by {decision.reviewer} at {_when(decision.decided_at)} UTC")
    if decision.first_wrong_step is not None:
        st.text(f"First wrong step: {decision.first_wrong_step + 1}")
    if decision.comment:
        st.text(f"Comment: {decision.comment}")
    if decision.decision != "correct":
        return
    if not show_texts:
        st.info("The correction is hidden: the item holds personal data your role may not see.")
        return
    if decision.corrected_answer is not None:
        st.text("Corrected answer:")
        st.code(decision.corrected_answer, language=None)
    if decision.diff:
        st.text("What the reviewer changed:")
        st.code(decision.diff, language="diff")


def audit(events: list[ReviewEvent]) -> None:
    with st.expander("Audit trail"):
        rows = [
            {
                "when (UTC)": _when(e.at),
                "event": e.type,
                "by": e.actor,
                "tier": e.state.tier,
                "detail": " ".join(
                    x for x in (e.reason, e.from_tier and f"{e.from_tier}->{e.to_tier}") if x
                ),
            }
            for e in events
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
