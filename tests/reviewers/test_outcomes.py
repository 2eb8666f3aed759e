"""What reviewers found against what the checks said: the Wilson interval and the report (pure),
and ``settled_outcomes`` on the real Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from scipy.stats import binomtest

from tests.redis_fixtures import review_item
from tests.reviewers.helpers import decision
from vigil.reviewers.outcomes import (
    RANDOM_SAMPLE,
    Z95,
    Outcome,
    Proportion,
    check_quality,
    outcome,
    settled_outcomes,
    wilson_interval,
)
from vigil.reviewers.queue import ReviewQueue
from vigil.streams.checks.config import load_config
from vigil.streams.triage import Screener
from vigil_client.contracts import CheckResult, InferenceResult, ReviewItem

MakeItem = Callable[..., ReviewItem]
FIXED = ["April: 48", "May: 48 / 2 = 24", "Total: 48 + 24 = 72"]
CLEAN = [CheckResult(check="self_consistency", score=0.1, flagged=False)]
WEAK = [CheckResult(check="question_coverage", score=0.6, flagged=True)]


# --- Wilson score interval ------------------------------------------------------------------


def _textbook(k: int, n: int, z: float) -> tuple[float, float]:
    # Wilson (1927), as usually written: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n).
    p = k / n
    root = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return (p + z**2 / (2 * n) - root) / (1 + z**2 / n), (p + z**2 / (2 * n) + root) / (
        1 + z**2 / n
    )


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # 95% intervals as tabulated to 4 places (z = 1.96).
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 4, 0.0456, 0.6994)],
)
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)
    assert got == pytest.approx(_textbook(k, n, Z95), abs=1e-12)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert got == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_wilson_interval_is_within_bounds_and_narrows_with_more_data() -> None:
    assert math.isclose(Z95, 1.959964, abs_tol=1e-6)
    for n in (1, 3, 50, 1000):
        for k in range(0, n + 1, max(1, n // 7)):
            low, high = wilson_interval(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0  # exactly
    assert wilson_interval(50, 100)[1] - wilson_interval(50, 100)[0] < 0.2
    assert wilson_interval(500, 1000)[1] - wilson_interval(500, 1000)[0] < 0.07


@pytest.mark.parametrize(("k", "n"), [(0, 0), (1, 0), (-1, 5), (6, 5)])
def test_wilson_interval_refuses_what_is_not_a_proportion(k: int, n: int) -> None:
    with pytest.raises(ValueError, match="0 <= hits <= total"):
        wilson_interval(k, n)


def test_an_empty_proportion_has_no_value_nor_interval() -> None:
    assert Proportion(0, 0).value is None and Proportion(0, 0).interval is None
    assert Proportion(1, 4).value == 0.25 and Proportion(1, 4).interval == wilson_interval(1, 4)


# --- one outcome ------------------------------------------------------------------------------


def test_outcome_of_each_verdict() -> None:
    item = review_item("x", checks=WEAK + CLEAN, route=RANDOM_SAMPLE, product="tutor")
    # Whatever the queue stored as the original answer is what the correction is set against.
    stored = {"original_answer": "70"}
    cases = [
        (decision("x", "approve"), False, False),
        (decision("x", "reject"), True, True),
        (decision("x", "correct", corrected_answer="72", **stored), True, True),
        (decision("x", "correct", corrected_answer=" $70.00 ", **stored), True, False),
        (
            decision("x", "correct", corrected_answer=None, corrected_steps=FIXED, **stored),
            True,
            False,
        ),
    ]
    for d, found_wrong, answer_wrong in cases:
        got = outcome(item, d)
        assert got is not None
        assert (got.found_wrong, got.answer_wrong) == (found_wrong, answer_wrong), d.decision
        assert got.flagged == ("question_coverage",) and got.sampled
        assert (got.model_version, got.product, got.decision) == (
            "175b_verification",
            "tutor",
            d.decision,
        )
    # Not a final verdict: nothing to measure.
    assert outcome(item, decision("x", "escalate")) is None
    assert outcome(item, decision("x", "approve", final=False)) is None


# --- the report -------------------------------------------------------------------------------


def _o(
    flagged: tuple[str, ...] = (),
    *,
    wrong: bool = False,
    answer: bool | None = None,
    route: str | None = "flagged",
    version: str = "v1",
) -> Outcome:
    return Outcome(
        request_id="r",
        route=route,
        flagged=flagged,
        model_version=version,
        product=None,
        decision="reject" if wrong else "approve",
        found_wrong=wrong,
        answer_wrong=wrong if answer is None else answer,
    )


def test_check_quality_counts_precision_per_check_and_the_sample_miss_rate() -> None:
    outcomes = [
        _o(("step_verification", "self_consistency"), wrong=True),
        _o(("step_verification",), wrong=True, answer=False),
        _o(("step_verification",)),
        _o(("self_consistency",)),
        _o(route=RANDOM_SAMPLE, version="v1", wrong=True),
        _o(route=RANDOM_SAMPLE, version="v1"),
        _o(route=RANDOM_SAMPLE, version="v0"),
        _o(("question_coverage",), route=RANDOM_SAMPLE, version="v0", wrong=True),
        _o(route="bias-alert", wrong=True),  # neither flagged nor sampled: counted overall only
    ]
    report = check_quality(outcomes)
    assert (report.reviewed, report.found_wrong, report.answer_wrong) == (9, 5, 4)
    by_check = {c.check: c for c in report.checks}
    assert list(by_check) == ["question_coverage", "self_consistency", "step_verification"]
    assert by_check["step_verification"].precision == Proportion(2, 3)
    assert by_check["step_verification"].answer_wrong == 1
    assert by_check["self_consistency"].precision == Proportion(1, 2)
    assert by_check["question_coverage"].precision == Proportion(1, 1)
    assert report.miss_rate == Proportion(2, 4)
    assert report.miss_rate_by_model == {"v0": Proportion(1, 2), "v1": Proportion(1, 2)}
    assert list(report.miss_rate_by_model) == ["v0", "v1"]


def test_check_quality_of_nothing() -> None:
    report = check_quality([])
    assert (report.reviewed, report.checks, report.miss_rate_by_model) == (0, [], {})
    assert report.miss_rate == Proportion(0, 0)


# --- settled_outcomes on Redis ----------------------------------------------------------------


def _settle(queue: ReviewQueue, item: ReviewItem, kind: str, **extra: Any) -> None:
    queue.enqueue(item)
    queue.decide(decision(item, kind, **extra))


def test_a_result_the_screener_samples_counts_for_the_miss_rate(
    review_queue: ReviewQueue,
) -> None:
    # The route travels from the screener's routing, through the stored review item, to the
    # outcome reads: run that path instead of comparing the constant with itself.
    base = load_config()
    config = base.model_copy(
        update={"sampling": base.sampling.model_copy(update={"clean_rate": 1.0})}
    )
    now = datetime.now(UTC)
    result = InferenceResult(
        request_id="drawn",
        created_at=now,
        request_created_at=now,
        prompt="Tom has 3 bags and 4 more. He doubles them. How many?",
        output="He has 3+4 = <<3+4=7>>7 bags\nThen 7*2 = <<7*2=14>>14 bags\nA: 14",
        model_name="replay-reasoner",
        model_version="v1",
        latency_ms=1.0,
    )
    triage = Screener([], config).screen(result)
    assert triage.outcome.verdict == "clean" and triage.item is not None
    _settle(review_queue, triage.item, "reject", reason="wrong total")

    [got] = settled_outcomes(review_queue, 0).outcomes  # the queue's own prefix: only this one
    assert got.sampled and got.flagged == ()
    report = check_quality([got])
    assert report.miss_rate == Proportion(1, 1)
    assert report.miss_rate_by_model == {"v1": Proportion(1, 1)}


def test_settled_outcomes_reads_final_verdicts_newest_first(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    _settle(review_queue, make_item("old"), "approve")
    time.sleep(0.01)
    since_ms = int(time.time() * 1000)
    time.sleep(0.01)
    _settle(review_queue, make_item("flagged"), "reject", reason="wrong sum")
    _settle(review_queue, make_item("sampled", route=RANDOM_SAMPLE, checks=CLEAN), "correct")
    _settle(
        review_queue,
        make_item("steps", model_version="6b", product=None),
        "correct",
        corrected_answer=None,
        corrected_steps=FIXED,
    )
    # Escalated, not settled yet: not an outcome.
    review_queue.enqueue(make_item("open"))
    review_queue.decide(decision("open", "escalate"))

    read = settled_outcomes(review_queue, since_ms)
    assert (read.skipped, read.truncated) == (0, False)
    assert [o.request_id for o in read.outcomes] == ["steps", "sampled", "flagged"]
    steps, sampled, flagged = read.outcomes
    assert flagged == Outcome(
        request_id="flagged",
        route=None,
        flagged=("arithmetic",),
        model_version="175b_verification",
        product="tutor",
        decision="reject",
        found_wrong=True,
        answer_wrong=True,
        ran=("arithmetic", "self_consistency"),
    )
    assert sampled.sampled and sampled.flagged == () and sampled.answer_wrong  # 70 -> 72
    assert steps.found_wrong and not steps.answer_wrong  # the reasoning, not the answer
    assert (steps.model_version, steps.product) == ("6b", None)

    # Bounded: the most recent only, and it says so.
    limited = settled_outcomes(review_queue, 0, limit=2)
    assert [o.request_id for o in limited.outcomes] == ["steps", "sampled"]
    assert limited.truncated
    assert [o.request_id for o in settled_outcomes(review_queue, 0).outcomes][-1] == "old"


def test_settled_items_whose_data_is_gone_are_counted_as_skipped(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    _settle(review_queue, make_item("kept"), "approve")
    _settle(review_queue, make_item("expired"), "reject")
    # Retention expired the item's keys; the decided index keeps it until the next tick.
    review_queue.client.delete(review_queue.keys.item("expired"))
    read = settled_outcomes(review_queue, 0)
    assert [o.request_id for o in read.outcomes] == ["kept"]
    assert read.skipped == 1
