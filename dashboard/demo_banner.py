"""The demo's banner, on every page while ``vigil up --demo`` runs: what the story is doing
now, what comes next, and the whole timeline (read from the stack's ``demo_file``; none when
no demo runs). Its text is Vigil's own (settings' names), never model output."""

from __future__ import annotations

import time

import streamlit as st

from vigil.demo import DemoTimeline, clock, reviewer_ids
from vigil.settings import VigilSettings


def render(settings: VigilSettings, now: float | None = None) -> None:
    demo = DemoTimeline.load(settings.demo_file)
    if demo is None:
        return
    now = time.time() if now is None else now
    done, ahead = demo.now_and_next(now)
    parts = [f"**Demo running** (speed x{demo.speed:g}, {clock(now - demo.started_at)} in)."]
    if done is not None:
        parts.append(f"Now: {done.what}.")
    if ahead is not None:
        parts.append(f"Next, at {demo.when(ahead)}: {ahead.what}.")
    else:
        parts.append("The story has played out; the traffic goes on.")
    st.info(" ".join(parts), icon="🎬")
    if demo.reviewers:
        st.caption(
            f"Simulated reviewers at work: {reviewer_ids(demo.reviewers)}. Their decisions"
            " are made up by the demo, not by people."
        )
    with st.expander("Demo timeline", expanded=False):
        for step in demo.steps:
            mark = "✓" if step.at <= now else "·"
            st.caption(f"{mark} {demo.when(step)} {step.what}")
