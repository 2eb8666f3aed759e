"""What reviewers found in settled items, set against what the checks said: the checks measured.

- ``settled_outcomes``: the outcome of each item settled since a moment (the ``limit`` most
  recent, newest first, one pipelined round trip): its route, flagged checks, model version,
  product and the final verdict, and whether the reviewer found the output wrong;
  ``settled_reviews`` the same with each item (its checks: the labels the risk model is
  fitted to, ``streams/calibration/``).
- ``check_quality`` (pure): per check, the share of its flags that reviewers found wrong
  (precision); over the random sample of clean results, the share reviewers found wrong
  (the checks' miss rate), overall and per model version; each with a 95% Wilson interval.

The random sample is the one unbiased view of what the checks let through: the screening
worker routes a share of *clean* results to review (``[sampling] clean_rate``) without
holding them up. A sampled item may still carry a weak flag that routes nothing on its own
(``question_coverage``): it counts for that check's precision and for the miss rate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from statistics import NormalDist

from vigil.reviewers.base import QueueBase
from vigil.reviewers.console_reads import settled_since
from vigil.reviewers.correction import normalise_answer
from vigil.reviewers.policy import flagged_checks
from vigil_client.contracts import RANDOM_SAMPLE, VERDICTS, ReviewDecision, ReviewItem

Z95 = NormalDist().inv_cdf(0.975)  # 1.95996...


@dataclass(frozen=True)
class Outcome:
    """One settled item: what the checks said and what the final verdict found."""

    request_id: str
    route: str | None
    flagged: tuple[str, ...]
    model_version: str
    product: str | None
    decision: str  # approve | reject | correct
    found_wrong: bool  # rejected or corrected: the output had something wrong
    answer_wrong: bool  # rejected, or corrected to another final answer
    ran: tuple[str, ...] = ()  # every check that ran on it (flagged or not)

    @property
    def sampled(self) -> bool:
        return self.route == RANDOM_SAMPLE


@dataclass(frozen=True)
class SettledOutcomes:
    """What ``settled_outcomes`` read; ``skipped`` settled items had no final verdict to read
    (expired or erased after they were listed), and ``truncated`` says older ones were left."""

    outcomes: list[Outcome]
    skipped: int
    truncated: bool


def outcome(item: ReviewItem, decision: ReviewDecision) -> Outcome | None:
    """The outcome of a settled item; None unless ``decision`` is a final verdict."""
    if not decision.final or decision.decision not in VERDICTS:
        return None
    kind = decision.decision
    # A correction of the steps alone keeps the answer (corrected_answer None): the reasoning
    # was wrong, the answer was not.
    new_answer = decision.corrected_answer
    answer_changed = new_answer is not None and normalise_answer(new_answer) != normalise_answer(
        decision.original_answer
    )
    return Outcome(
        request_id=item.request_id,
        route=item.route,
        flagged=tuple(flagged_checks(item)),
        model_version=item.model_version,
        product=item.product,
        decision=kind,
        found_wrong=kind in ("reject", "correct"),
        answer_wrong=kind == "reject" or (kind == "correct" and answer_changed),
        ran=tuple(dict.fromkeys(c.check for c in item.checks)),
    )


@dataclass(frozen=True)
class SettledReviews:
    """What ``settled_reviews`` read: each settled item with its outcome, newest first."""

    reviews: list[tuple[ReviewItem, Outcome]]
    skipped: int
    truncated: bool


def settled_reviews(queue: QueueBase, since_ms: int, limit: int = 5000) -> SettledReviews:
    """The (at most ``limit``, newest first) items settled since ``since_ms``, with outcomes."""
    rids, truncated = settled_since(queue, since_ms, limit)
    pipe = queue.client.pipeline(transaction=False)
    for rid in rids:
        pipe.hmget(queue.keys.item(rid), ["item", "decision"])
    reviews: list[tuple[ReviewItem, Outcome]] = []
    skipped = 0
    for raw_item, raw_decision in pipe.execute():
        found = None
        if raw_item is not None and raw_decision is not None:
            item = ReviewItem.from_json(raw_item)
            found = outcome(item, ReviewDecision.from_json(raw_decision))
        if found is None:
            skipped += 1
        else:
            reviews.append((item, found))
    return SettledReviews(reviews=reviews, skipped=skipped, truncated=truncated)


def settled_outcomes(queue: QueueBase, since_ms: int, limit: int = 5000) -> SettledOutcomes:
    """The outcomes of the (at most ``limit``, newest first) items settled since ``since_ms``."""
    read = settled_reviews(queue, since_ms, limit)
    return SettledOutcomes(
        outcomes=[o for _, o in read.reviews], skipped=read.skipped, truncated=read.truncated
    )


# --- the report (pure) ------------------------------------------------------------------------


def wilson_interval(hits: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``hits / total`` (95% for the default z).

    Unlike the normal approximation it stays within [0, 1] and is not zero-width at 0 or
    ``total`` hits, which matters for the small samples a review queue yields.
    """
    if total <= 0 or not 0 <= hits <= total:
        raise ValueError(f"a proportion needs 0 <= hits <= total and total > 0: {hits}/{total}")
    p = hits / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z / (1 + z2 / total) * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    # At 0 or ``total`` hits the end is exactly 0 or 1 (centre and half cancel), but rounding
    # leaves a hair either side of it: a "0%" that reads 0.0000000000000000002 misleads.
    low = 0.0 if hits == 0 else max(0.0, centre - half)
    high = 1.0 if hits == total else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Proportion:
    """``hits`` of ``total``, with its 95% Wilson interval (None when ``total`` is 0)."""

    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.hits, self.total) if self.total else None


@dataclass(frozen=True)
class CheckPrecision:
    """A check's flags that reviewers settled: how many they found wrong (the precision), and
    how many had a wrong final answer (what the offline precision measures)."""

    check: str
    precision: Proportion  # found wrong / reviewed
    answer_wrong: int


@dataclass(frozen=True)
class QualityReport:
    reviewed: int
    found_wrong: int
    answer_wrong: int
    checks: list[CheckPrecision]  # by check name
    miss_rate: Proportion  # random sample: found wrong / reviewed
    miss_rate_by_model: dict[str, Proportion]  # by model version, sorted


def _found_wrong(group: list[Outcome]) -> Proportion:
    return Proportion(sum(o.found_wrong for o in group), len(group))


def check_quality(outcomes: list[Outcome]) -> QualityReport:
    flags: dict[str, list[Outcome]] = defaultdict(list)
    sample: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        for check in o.flagged:
            flags[check].append(o)
        if o.sampled:
            sample[o.model_version].append(o)
    sampled = [o for group in sample.values() for o in group]
    return QualityReport(
        reviewed=len(outcomes),
        found_wrong=sum(o.found_wrong for o in outcomes),
        answer_wrong=sum(o.answer_wrong for o in outcomes),
        checks=[
            CheckPrecision(
                check=name,
                precision=_found_wrong(group),
                answer_wrong=sum(o.answer_wrong for o in group),
            )
            for name, group in sorted(flags.items())
        ],
        miss_rate=_found_wrong(sampled),
        miss_rate_by_model={
            version: _found_wrong(group) for version, group in sorted(sample.items())
        },
    )
