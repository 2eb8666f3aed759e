"""Fitting the risk model to reviewers' verdicts, measuring it, and deciding whether to adopt it.

Labels come from settled review items (approve: right; reject, or a correction of the final
answer: wrong), and reviewers only see what was routed to them: every queued result, but
only ``clean_rate`` of the clean ones (the random sample). Fitted as they come, the model
would learn the queue's mix, not the traffic's; so each label is weighted by the inverse of
its chance of having been reviewed (``review_weight``: 1 for a queued result, 1/clean_rate for
a sampled one), and the metrics are weighted the same way, so that both describe all traffic.

The held-out labels are whole questions (prompts): the same question answered twice must not
be on both sides, or the held-out AUROC flatters the model. The stored model is the one fitted
on the training side, so its held-out numbers describe exactly it. Adoption: at least
``min_labels`` labels with ``min_wrong`` wrong ones, and no worse on the same held-out labels
than the model in use (AUROC; and Brier score when that one is a fit too; the hand weights
are not probabilities, so only their ranking is compared).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from vigil.streams.calibration.exceptions import NotEnoughLabels
from vigil.streams.calibration.features import FeatureSpec, spec_for
from vigil.streams.calibration.model import PRIOR_VERSION, Metrics, RiskModel
from vigil_client.contracts import RANDOM_SAMPLE, CheckResult

__all__ = [
    "Decision",
    "Fit",
    "Labelled",
    "decide",
    "expected_calibration_error",
    "fit_model",
    "heldout_group",
    "measure",
    "review_weight",
]

ECE_BINS = 10


@dataclass(frozen=True)
class Labelled:
    """One reviewed result: its checks, the hand-weighted risk, the verdict, its weight (the
    inverse chance it was reviewed) and its group (the question, for the split)."""

    checks: tuple[CheckResult, ...]
    prior: float
    wrong: bool
    weight: float
    group: str


def review_weight(route: str | None, clean_rate: float) -> float | None:
    """The inverse of the chance a result on ``route`` was reviewed; None when unknown (a
    monitor alert's or a probe's samples are picked by other rules: left out of the fit)."""
    if route == RANDOM_SAMPLE:
        return 1.0 / clean_rate if clean_rate > 0 else None
    if route is None or route.endswith(("-alert", "-probe")):
        return None
    return 1.0  # every queued result is reviewed


def heldout_group(group: str, share: float, salt: str = "") -> bool:
    """Whether a question is held out: by a hash, so the split is the same run after run."""
    digest = hashlib.blake2b(f"{salt}|{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def expected_calibration_error(
    p: Sequence[float], y: Sequence[bool], w: Sequence[float], bins: int = ECE_BINS
) -> float:
    """Weighted ECE over equal-width bins: sum over bins of |mean(y) - mean(p)| by weight."""
    total = float(sum(w))
    if total <= 0:
        return math.nan
    out = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, pi in enumerate(p) if lo <= pi < hi or (b == bins - 1 and pi == 1.0)]
        wb = sum(w[i] for i in members)
        if wb <= 0:
            continue
        mean_y = sum(w[i] * y[i] for i in members) / wb
        mean_p = sum(w[i] * p[i] for i in members) / wb
        out += wb / total * abs(mean_y - mean_p)
    return out


def measure(p: Sequence[float], rows: Sequence[Labelled]) -> Metrics:
    y = [r.wrong for r in rows]
    w = [r.weight for r in rows]
    both = 0 < sum(y) < len(y)
    auroc = float(roc_auc_score(y, p, sample_weight=w)) if both else math.nan
    total = sum(w)
    brier = sum(wi * (pi - yi) ** 2 for pi, yi, wi in zip(p, y, w, strict=True)) / total
    return Metrics(
        n=len(rows),
        wrong=sum(y),
        auroc=auroc,
        ece=expected_calibration_error(p, y, w),
        brier=brier,
    )


Scorer = Callable[[Labelled], float]


def prior_scorer(row: Labelled) -> float:
    return row.prior


def model_scorer(model: RiskModel) -> Scorer:
    return lambda row: model.p_wrong(row.checks, row.prior)


@dataclass(frozen=True)
class Fit:
    model: RiskModel
    train: list[Labelled]
    heldout: list[Labelled]


def _matrix(spec: FeatureSpec, rows: Sequence[Labelled]) -> np.ndarray:
    return np.array([spec.vector(r.checks, r.prior) for r in rows], dtype=float)


def fit_model(
    rows: Sequence[Labelled],
    *,
    heldout_share: float = 0.3,
    regularization: float = 1.0,
    min_labels: int = 200,
    min_wrong: int = 20,
    version: str = "",
    salt: str = "",
    source: str = "review store",
) -> Fit:
    """A logistic regression on the training questions, measured on the held-out ones.

    Raises ``NotEnoughLabels`` below ``min_labels`` / ``min_wrong``, or when either side of
    the split lacks a right or a wrong answer (nothing to measure a ranking with).
    """
    wrong = sum(r.wrong for r in rows)
    if len(rows) < min_labels or wrong < min_wrong or len(rows) - wrong < min_wrong:
        raise NotEnoughLabels(
            f"{len(rows)} labels, {wrong} wrong: a fit needs {min_labels} labels with at least "
            f"{min_wrong} wrong and {min_wrong} right"
        )
    train = [r for r in rows if not heldout_group(r.group, heldout_share, salt)]
    heldout = [r for r in rows if heldout_group(r.group, heldout_share, salt)]
    for name, side in (("training", train), ("held-out", heldout)):
        if len({r.wrong for r in side}) < 2:
            raise NotEnoughLabels(f"the {name} questions have only one kind of verdict")
    spec = spec_for(r.checks for r in train)
    x = _matrix(spec, train)
    y = np.array([r.wrong for r in train], dtype=int)
    w = np.array([r.weight for r in train], dtype=float)
    # Weights scaled to mean 1: the regularisation then means the same whatever the rate.
    w = w * (len(w) / w.sum())
    reg = LogisticRegression(C=regularization, max_iter=2000)
    reg.fit(x, y, sample_weight=w)
    draft = RiskModel(
        version=version or datetime.now(UTC).strftime("fit-%Y%m%dT%H%M%S"),
        spec=spec,
        coef=tuple(float(c) for c in reg.coef_[0]),
        intercept=float(reg.intercept_[0]),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        n_train=len(train),
        heldout=Metrics(0, 0, math.nan, math.nan, math.nan),
        source=source,
    )
    scored = model_scorer(draft)
    metrics = measure([scored(r) for r in heldout], heldout)
    model = dataclasses.replace(draft, heldout=metrics)
    return Fit(model=model, train=train, heldout=heldout)


@dataclass(frozen=True)
class Decision:
    adopt: bool
    reason: str
    candidate: Metrics
    current: Metrics
    current_version: str


def decide(
    fit: Fit, current: RiskModel | None, *, tolerance: float = 0.005
) -> tuple[Decision, RiskModel]:
    """Whether ``fit`` replaces ``current`` (None: the hand weights), judged on the fit's own
    held-out labels; returns the model with the comparison recorded in it."""
    rows = fit.heldout
    scorer = prior_scorer if current is None else model_scorer(current)
    now = measure([scorer(r) for r in rows], rows)
    cand = fit.model.heldout
    version = PRIOR_VERSION if current is None else current.version
    model = dataclasses.replace(fit.model, baseline=now, baseline_version=version)
    if math.isnan(cand.auroc):
        return Decision(False, "no AUROC on the held-out labels", cand, now, version), model
    if not math.isnan(now.auroc) and cand.auroc < now.auroc - tolerance:
        reason = f"held-out AUROC {cand.auroc:.3f} < {now.auroc:.3f} of {version}"
        return Decision(False, reason, cand, now, version), model
    if current is not None and cand.brier > now.brier + tolerance:
        reason = f"held-out Brier score {cand.brier:.4f} > {now.brier:.4f} of {version}"
        return Decision(False, reason, cand, now, version), model
    reason = f"held-out AUROC {cand.auroc:.3f} (was {now.auroc:.3f} with {version})"
    return Decision(True, reason, cand, now, version), model
