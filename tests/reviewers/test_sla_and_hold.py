"""SLA timers and hold-and-release on real Redis, driven by ``tick`` (the relay process runs
the same call every fraction of a second; tests/integration covers that process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.reviewers.helpers import decision, events, outbox
from vigil.reviewers.exceptions import StaleClaim
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.sla import TickResult
from vigil_client.contracts import ReviewItem, ReviewRelease

MakeItem = Callable[..., ReviewItem]


def _due_in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _tick_until(queue: ReviewQueue, request_id: str, event: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while event not in events(queue, request_id):
        assert time.monotonic() < deadline, f"no {event} for {request_id}"
        queue.tick()
        time.sleep(0.02)


def _tick_early(queue: ReviewQueue, deadline: datetime) -> TickResult | None:
    """A tick that surely ran before ``deadline`` (None if the machine stalled past it, in
    which case there is nothing to check: later results assert "never early" themselves)."""
    result = queue.tick()
    return result if datetime.now(UTC) < deadline else None


def _releases(queue: ReviewQueue) -> list[ReviewRelease]:
    return [ReviewRelease.from_json(e.value) for e in outbox(queue, "review.releases")]


def test_a_breach_escalates_one_tier_at_the_deadline(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    deadline = _due_in(0.6)
    review_queue.enqueue(make_item("x", sla_deadline=deadline))
    claim = review_queue.claim_next("alice")
    assert claim is not None
    early = _tick_early(review_queue, deadline)
    assert early is None or early.breached == 0  # not before the deadline
    _tick_until(review_queue, "x", "sla_breached")
    breach, escalated = review_queue.audit("x")[-2:]
    assert breach.type == "sla_breached" and breach.at >= deadline
    assert breach.late_ms is not None and breach.late_ms >= 0
    assert breach.state.breaches == 1
    assert escalated.type == "escalated" and escalated.reason == "sla_breach"
    state = review_queue.review_state("x")
    assert state is not None and (state.tier, state.version) == ("lead", 2)
    # Visible: in the breached list, and a fresh deadline one SLA window later.
    assert [rid for rid, _ in review_queue.breached()] == ["x"]
    assert review_queue.count_breached() == 1
    assert review_queue.count_due(3600) == 1  # due again within one more SLA window
    assert state.deadline_ms > breach.state.deadline_ms
    # Alice's claim was on version 1: superseded.
    with pytest.raises(StaleClaim):
        review_queue.decide(decision("x", reviewer="alice", claim_id=claim.claim_id))


def test_breaches_climb_to_the_top_tier_then_stay_visible(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    now = datetime.now(UTC)
    review_queue.enqueue(make_item("x", enqueued_at=now, sla_deadline=now + timedelta(seconds=0.2)))
    deadline = time.monotonic() + 15
    while review_queue.review_state("x").breaches < 3:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        review_queue.tick()
        time.sleep(0.05)
    state = review_queue.review_state("x")
    assert state is not None and (state.tier, state.deadline_ms) == ("ml_team", 0)
    time.sleep(0.3)
    assert review_queue.tick().breached == 0  # no deadline left at the top: no repeats
    assert events(review_queue, "x").count("escalated") == 2


def test_a_settled_item_never_breaches(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    review_queue.enqueue(make_item("x", sla_deadline=_due_in(0.1)))
    review_queue.decide(decision("x"))
    time.sleep(0.2)
    assert review_queue.tick().breached == 0


def test_held_item_is_released_with_the_corrected_answer(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x", hold_for_review=True, metadata={"locale": "en"}))
    assert review_queue.release("x") is None and _releases(review_queue) == []
    stored = review_queue.decide(
        decision("x", "correct", corrected_steps=["48 + 24 = 72"], corrected_answer="72")
    )
    [release] = _releases(review_queue)
    assert release == review_queue.release("x")
    assert (release.outcome, release.deliver, release.by) == ("corrected", True, "review")
    assert release.answer == "72" and release.output == "48 + 24 = 72\nA: 72"
    assert release.decision_id == stored.decision_id and release.release_id == "x:release"
    assert release.metadata == {"locale": "en"} and release.product == "tutor"
    assert events(review_queue, "x")[-2:] == ["decided", "released"]
    assert review_queue.review_state("x").released == "corrected"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "outcome", "deliver", "answer"),
    [("approve", "approved", True, "70"), ("reject", "rejected", False, None)],
)
def test_held_item_released_on_approve_or_blocked_on_reject(
    review_queue: ReviewQueue,
    make_item: MakeItem,
    kind: str,
    outcome: str,
    deliver: bool,
    answer: str | None,
) -> None:
    review_queue.enqueue(make_item("x", hold_for_review=True))
    review_queue.decide(decision("x", kind))
    [release] = _releases(review_queue)
    assert (release.outcome, release.deliver, release.answer) == (outcome, deliver, answer)


def test_no_release_until_the_review_settles(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x", hold_for_review=True, reviews_required=2))
    review_queue.decide(decision("x", reviewer="a"))
    review_queue.decide(decision("x", "comment", reviewer="b"))
    review_queue.decide(decision("x", "escalate", reviewer="b"))
    assert _releases(review_queue) == []
    review_queue.decide(decision("x", reviewer="lead1"))
    assert [r.outcome for r in _releases(review_queue)] == ["approved"]


@pytest.mark.parametrize(
    ("fallback", "outcome", "deliver", "answer"),
    [
        ("release_as_is", "fallback_as_is", True, "70"),
        ("release_fallback", "fallback_answer", True, "Please check back soon."),
        ("block", "fallback_block", False, None),
    ],
)
def test_the_fallback_fires_at_the_deadline(
    review_queue: ReviewQueue,
    make_item: MakeItem,
    fallback: str,
    outcome: str,
    deliver: bool,
    answer: str | None,
) -> None:
    deadline = _due_in(0.5)
    review_queue.enqueue(
        make_item(
            "x",
            hold_for_review=True,
            sla_deadline=deadline,
            hold_fallback=fallback,
            fallback_answer="Please check back soon.",
        )
    )
    early = _tick_early(review_queue, deadline)
    assert early is None or (early.released == 0 and _releases(review_queue) == [])
    _tick_until(review_queue, "x", "released")
    [release] = _releases(review_queue)
    assert release.released_at >= deadline
    assert (release.outcome, release.deliver, release.answer, release.by) == (
        outcome,
        deliver,
        answer,
        "sla_fallback",
    )
    assert events(review_queue, "x")[-3:] == ["sla_breached", "released", "escalated"]
    # The review goes on (a lead has it now), but the product got its one release.
    review_queue.decide(decision("x", "correct", reviewer="lead1"))
    assert len(_releases(review_queue)) == 1
    assert review_queue.state("x") == "decided"


def test_the_default_fallback_comes_from_the_policy(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x", hold_for_review=True, sla_deadline=_due_in(0.05)))
    time.sleep(0.1)
    review_queue.tick()
    assert [r.outcome for r in _releases(review_queue)] == ["fallback_block"]  # the default
