"""Two sections of the checks page: the estimated share of wrong answers in production, and
how each check agrees with reviewers.

The error rate is the monitor's (``streams/monitoring/error_rate.py``): at each window close it
stores, per group, the prediction-powered estimate (the risk model's P(wrong) on every
screened result, corrected by reviewers' labels) with its 95 % interval, the labels-alone
interval and the uncorrected model; the page shows the newest and the series over time. The
agreement is computed here from the settled outcomes the page already read
(``reviewers.agreement.check_agreement``); each disagreement opens in the item page. Names
from the data (checks, groups, versions) go to tables and ``st.text`` only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from vigil.dashboard import nav
from vigil.reviewers.agreement import CheckAgreement, check_agreement
from vigil.reviewers.exceptions import queue_errors
from vigil.reviewers.outcomes import Outcome
from vigil.streams.monitoring.store import MonitorStore

WINDOWS = 200
NO_ESTIMATE = (
    "No estimate yet: the monitor stores one at each window close once reviewers have settled "
    "at least two results of each stratum (queued, and the random sample of clean ones)."
)


def _pct(x: Any) -> str:
    return "" if x is None else f"{float(x):.1%}"


def _ci(est: dict[str, Any] | None) -> str:
    return "" if not est else f"{est['low']:.1%}-{est['high']:.1%}"


def error_table(block: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for g in block.get("groups", []):
        est, base = g.get("ppi"), g.get("classical")
        rows.append(
            {
                "group": g["group"],
                "screened": int(g["screened"]),
                "reviewed": int(g["labelled"]),
                "estimated wrong": _pct(est["value"]) if est else "",
                "95% CI": _ci(est),
                "labels alone 95% CI": _ci(base),
                "model alone": _pct(g.get("model_only")),
                "wrong among reviewed": _pct(g.get("reviewed_wrong")),
            }
        )
    return pd.DataFrame(rows)


def error_series(windows: list[dict[str, Any]]) -> pd.DataFrame:
    """The overall estimate at each window close: value and interval."""
    points = {}
    for w in windows:
        block = w.get("error_rate") or {}
        groups = block.get("groups") or []
        est = groups[0].get("ppi") if groups and groups[0].get("group") == "all" else None
        if est:
            when = datetime.fromtimestamp(float(w["closed_at"]), UTC)
            points[when] = {"estimate": est["value"], "low": est["low"], "high": est["high"]}
    return pd.DataFrame.from_dict(points, orient="index").sort_index()


def render_error_rate(store: MonitorStore | None) -> None:
    st.subheader("Share of wrong answers in production (estimated)")
    if store is None:
        st.text("(the monitor's store is not configured)")
        return
    try:
        windows = store.windows(WINDOWS)
    except queue_errors() as exc:
        st.error(f"Cannot read the monitor's store: {exc}")
        return
    latest = next((w for w in windows if w.get("error_rate")), None)
    if latest is None:
        st.info(NO_ESTIMATE)
        return
    block = latest["error_rate"]
    model = block.get("model") or {}
    held = model.get("heldout") or {}
    fitted = "the hand weights (no fit adopted yet)"
    if held:
        fitted = (
            f"fitted {model.get('trained_at')} on {model.get('n_train')} labels, held-out "
            f"AUROC {float(held['auroc']):.3f}, calibration error {float(held['ece']):.3f}"
        )
    st.text(f"Risk model in use: {model.get('version')}: {fitted}.")
    st.text(
        f"Over {block.get('windows')} monitor windows since "
        f"{datetime.fromtimestamp(float(block['since']), UTC):%Y-%m-%d %H:%M} UTC, "
        f"{block.get('labels')} reviewed results. Estimated wrong: the model's P(wrong) on "
        "every screened result, corrected by reviewers' verdicts (prediction-powered "
        "inference; the 95% interval holds however good the model is). Beside it: the "
        "interval from the reviewed results alone, the model uncorrected, and the naive "
        "share wrong among what reviewers saw (mostly what the checks flagged)."
    )
    if block.get("risen"):
        st.warning("The error rate rose: see the Alerts page.")
    groups = block.get("groups") or []
    overall = groups[0].get("ppi") if groups and groups[0].get("group") == "all" else None
    if overall:
        cols = st.columns(3)
        cols[0].metric("Estimated wrong", _pct(overall["value"]))
        cols[1].metric("95% CI", _ci(overall))
        cols[2].metric("Screened", int(overall["n_total"]))
    st.dataframe(error_table(block), hide_index=True)
    series = error_series(windows)
    if len(series) > 1:
        st.text("Estimated share wrong over time (all traffic), with its 95% interval")
        st.line_chart(series, height=220)


def agreement_table(rows: list[CheckAgreement]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "check": a.check,
                "items": a.items,
                "flagged, found wrong": a.flagged_wrong,
                "flagged, approved": a.flagged_right,
                "not flagged, found wrong": a.missed_wrong,
                "not flagged, approved": a.passed_right,
                "agreement": _pct(a.agreement),
                "Cohen's kappa": "" if a.kappa is None else f"{a.kappa:.2f}",
            }
            for a in rows
        ]
    )


def render_agreement(outcomes: list[Outcome]) -> None:
    st.subheader("Checks against reviewers: confusion matrix and Cohen's kappa")
    rows = check_agreement(outcomes)
    if not rows:
        st.text("(no settled item in this period)")
        return
    st.text(
        "Per check, over the settled items it ran on: its flag against the final verdict "
        "(found wrong: rejected or corrected). Reviewers see every flagged item but only a "
        "sample of the clean ones, so misses are undercounted."
    )
    st.dataframe(agreement_table(rows), hide_index=True)
    by_name = {a.check: a for a in rows if a.false_alarms or a.misses}
    if not by_name:
        st.text("No disagreement between a check and reviewers in this period.")
        return
    name = str(st.selectbox("Disagreements of check", list(by_name), key="agree_check"))
    chosen = by_name[name]
    options = [f"{rid}  (flagged, approved)" for rid in chosen.false_alarms]
    options += [f"{rid}  (not flagged, found wrong)" for rid in chosen.misses]
    picked = str(st.selectbox("Item", options, key="agree_item"))
    if st.button("Open item", key="agree_open"):
        nav.open_item(picked.split("  ", 1)[0])
        st.rerun()
