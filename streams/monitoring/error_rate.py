"""The monitor's estimate of the share of wrong answers, at each window close, and its alert.

Every window stores what it screened as sums (``error_pools``: per risk-model version, group
and stratum, ``streams/calibration/production.py``). At each close the monitor adds up the
windows of the last ``[calibration] lookback_s`` scored by the model in use now, reads the
review items settled from results of that span (``reviewers.outcomes.settled_reviews``),
scores them with the same model, and stores the prediction-powered estimate per group in the
window's summary (``error_rate``): the console's chart over time and ``vigil monitor-report``
read it from there.

A rise is the estimate over the last ``recent_s`` above the one over the earlier part of the
span, the two 95 % intervals apart (or the recent interval above ``max_error_rate`` when that
is set); it raises an alert through the same hysteresis as drift (one rise, one alert).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vigil.reviewers.outcomes import settled_reviews
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import CalibrationSettings
from vigil.streams.calibration.fit import review_weight
from vigil.streams.calibration.ppi import Estimate
from vigil.streams.calibration.production import (
    ALL,
    LabelledRow,
    estimate_groups,
    groups_of,
    merge_pools,
)
from vigil.streams.triage import Screener
from vigil_client.contracts import RANDOM_SAMPLE, ReviewItem

__all__ = ["MAX_GROUPS", "ErrorRateCheck", "error_rate_block", "labelled_rows"]

# Groups stored per window (all, then model versions, products, segments by traffic).
MAX_GROUPS = 40


def _stratum(item: ReviewItem, clean_rate: float) -> str | None:
    if item.route == RANDOM_SAMPLE:
        return "clean"
    if item.alert_id is None and review_weight(item.route, clean_rate) == 1.0:
        return "queued"
    return None


def labelled_rows(
    reviews: Sequence[tuple[ReviewItem, Any]],
    screener: Screener,
    segment_keys: Sequence[str],
    since: float,
    until: float,
) -> list[tuple[float, LabelledRow]]:
    """Settled items of results screened in [since, until], scored by the screener's model,
    with their time: (enqueued at, row)."""
    rate = screener.config.sampling.clean_rate
    out = []
    for item, outcome in reviews:
        at = item.enqueued_at.timestamp()
        stratum = _stratum(item, rate)
        if stratum is None or not since <= at <= until:
            continue
        groups = groups_of(item.model_version, item.product, item.metadata, segment_keys)
        row = LabelledRow(
            stratum, tuple(groups), bool(outcome.answer_wrong), screener.risk_of(item.checks)
        )
        out.append((at, row))
    return out


@dataclass(frozen=True)
class ErrorRateCheck:
    """What one window close found: the stored block, and whether the rate rose."""

    block: dict[str, Any]
    risen: bool
    recent: Estimate | None
    earlier: Estimate | None


def _span(windows: Sequence[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    return [w["error_pools"][version] for w in windows if version in (w.get("error_pools") or {})]


def _overall(
    windows: Sequence[dict[str, Any]], version: str, rows: list[LabelledRow]
) -> Estimate | None:
    if not windows:
        return None
    found = estimate_groups(merge_pools(_span(windows, version)), rows).get(ALL)
    return None if found is None else found.ppi


def _model_info(screener: Screener) -> dict[str, Any]:
    model = screener.risk_model
    if model is None:
        return {"version": screener.risk_version}
    return {
        "version": model.version,
        "trained_at": model.trained_at,
        "n_train": model.n_train,
        "heldout": model.heldout.to_dict(),
    }


async def error_rate_block(
    summary: dict[str, Any],
    earlier_windows: Sequence[dict[str, Any]],
    screener: Screener,
    queue: ReviewQueue | None,
    config: CalibrationSettings,
) -> ErrorRateCheck:
    """The estimate at the close of the window ``summary`` (whose ``error_pools`` is set),
    over it and ``earlier_windows`` (newest first) within the look-back."""
    version = screener.risk_version
    now = float(summary["closed_at"])
    span = [summary] + [
        w for w in earlier_windows if float(w["closed_at"]) >= now - config.lookback_s
    ]
    span = [w for w in span if version in (w.get("error_pools") or {})]
    since = min(float(w.get("opened_at") or w["closed_at"]) for w in span)
    reviews: list[tuple[ReviewItem, Any]] = []
    if queue is not None:
        read = await asyncio.to_thread(settled_reviews, queue, int(since * 1000), config.read_limit)
        reviews = read.reviews
    timed = labelled_rows(reviews, screener, config.segment_keys, since, now)
    rows = [r for _, r in timed]
    groups = estimate_groups(merge_pools(_span(span, version)), rows)
    ordered = sorted(groups.values(), key=lambda g: (g.group != ALL, -g.screened, g.group))
    # The rise: the last recent_s against what came before, on disjoint windows and labels.
    recent_w = [
        w for w in span if float(w.get("opened_at") or w["closed_at"]) >= now - config.recent_s
    ]
    earlier_w = [w for w in span if w not in recent_w]
    cut = min((float(w.get("opened_at") or w["closed_at"]) for w in recent_w), default=now)
    recent = _overall(recent_w, version, [r for at, r in timed if at >= cut])
    earlier = _overall(earlier_w, version, [r for at, r in timed if at < cut])
    risen = False
    if recent is not None:
        if earlier is not None and recent.low > earlier.high:
            risen = True
        if config.max_error_rate > 0 and recent.low > config.max_error_rate:
            risen = True
    block = {
        "model": _model_info(screener),
        "since": since,
        "windows": len(span),
        "labels": len(rows),
        "groups": [g.to_dict() for g in ordered[:MAX_GROUPS]],
        "recent": None if recent is None else recent.to_dict(),
        "earlier": None if earlier is None else earlier.to_dict(),
        "risen": risen,
    }
    return ErrorRateCheck(block, risen, recent, earlier)
