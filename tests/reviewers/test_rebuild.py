"""The review state folded back from its events equals the live state (Redis only: the
events are read from the outbox stream here; tests/integration reads them from Kafka)."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis

from reviewers.exceptions import InvalidDecision, RebuildError
from reviewers.queue import ReviewQueue
from reviewers.rebuild import rebuild, snapshot
from tests.reviewers.helpers import decision, outbox
from vigil.contracts import ReviewItem

MakeItem = Callable[..., ReviewItem]


def _without_prefix(state: dict[str, object], prefix: str) -> dict[str, object]:
    return {k[len(prefix) + 1 :]: v for k, v in state.items()}


def _random_workload(queue: ReviewQueue, make_item: MakeItem, seed: int) -> None:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    items = [
        make_item(
            f"w{n}",
            metadata={"user_id": f"u{n % 7}", "locale": rng.choice(["en", "de"])},
            hold_for_review=n % 3 == 0,
            reviews_required=2 if n % 4 == 0 else 1,
            assigned_reviewer="r1" if n % 11 == 0 else None,
            enqueued_at=now,
            sla_deadline=now + timedelta(seconds=0.3) if n % 6 == 0 else None,
        )
        for n in range(80)
    ]
    queue.enqueue_many(items)
    for _ in range(250):
        who = f"r{rng.randrange(5)}"
        claim = queue.claim_next(who, tiers=["lead", "reviewer"] if who == "r0" else ["reviewer"])
        if claim is None:
            continue
        kind = rng.choice(["approve", "approve", "reject", "correct", "escalate", "comment"])
        extra = {"corrected_answer": rng.choice(["72", "73"])} if kind == "correct" else {}
        if rng.random() < 0.1:
            queue.release_claim(claim)
            continue
        with contextlib.suppress(InvalidDecision):  # e.g. escalating at the top tier
            queue.decide(decision(claim.request_id, kind, who, claim_id=claim.claim_id, **extra))
    time.sleep(0.35)
    queue.tick()
    queue.erase_subject("u3")
    queue.assign(queue.pending(0, 1)[0].request_id, "r4")


def test_rebuild_from_the_events_gives_the_same_state(
    review_queue: ReviewQueue, redis_client: redis.Redis, make_item: MakeItem
) -> None:
    _random_workload(review_queue, make_item, seed=7)
    # Leases are not rebuilt (they are short-lived): compare with none outstanding.
    for n in range(80):
        for claim in review_queue.claims(f"w{n}"):
            review_queue.release_claim(claim)
    events = [e.value for e in outbox(review_queue, "review.events")]
    assert len(events) > 200
    target = f"{review_queue.prefix}-rebuilt"
    # At-least-once delivery: duplicates (a relay re-sending) are skipped.
    stats = rebuild(redis_client, target, events + events[:40])
    assert stats.duplicates == 40 and stats.gaps == 0
    assert stats.erased > 0 and stats.items > 0
    live = _without_prefix(snapshot(redis_client, review_queue.prefix), review_queue.prefix)
    rebuilt = _without_prefix(snapshot(redis_client, target), target)
    assert set(live) == set(rebuilt)
    for key in live:
        assert live[key] == rebuilt[key], key
    # A rebuilt queue works: claim and settle something.
    copy = ReviewQueue(redis_client, target)
    again = copy.claim_next("r9")
    if again is not None:
        copy.decide(decision(again.request_id, "approve", "r9", claim_id=again.claim_id))


def test_rebuild_refuses_a_target_with_state(
    review_queue: ReviewQueue, redis_client: redis.Redis, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    events = [e.value for e in outbox(review_queue, "review.events")]
    with pytest.raises(RebuildError, match="keys exist"):
        rebuild(redis_client, review_queue.prefix, events)
    stats = rebuild(redis_client, review_queue.prefix, events, force=True)
    assert stats.items == 1 and review_queue.get("x") is not None
