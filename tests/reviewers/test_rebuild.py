"""The review state folded back from its events equals the live state, live claims included
(Redis only: the events are read from the outbox stream here; tests/integration reads them
from Kafka)."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis

from tests.reviewers.helpers import decision, events, outbox
from vigil.reviewers.exceptions import ClaimRefused, InvalidDecision, RebuildError, StaleClaim
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.rebuild import RebuildStats, rebuild, snapshot
from vigil_client.contracts import ReviewItem

MakeItem = Callable[..., ReviewItem]


def _without_prefix(state: dict[str, object], prefix: str) -> dict[str, object]:
    return {k[len(prefix) + 1 :]: v for k, v in state.items()}


def _rebuilt(queue: ReviewQueue, client: redis.Redis) -> tuple[ReviewQueue, RebuildStats]:
    """The queue's state rebuilt from its events under a prefix of its own."""
    target = f"{queue.prefix}-rebuilt"
    stats = rebuild(client, target, [e.value for e in outbox(queue, "review.events")])
    return ReviewQueue(client, target), stats


def _same_state(queue: ReviewQueue, copy: ReviewQueue) -> None:
    live = _without_prefix(snapshot(queue.client, queue.prefix), queue.prefix)
    rebuilt = _without_prefix(snapshot(copy.client, copy.prefix), copy.prefix)
    assert set(live) == set(rebuilt)
    for key in live:
        assert live[key] == rebuilt[key], key


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
    # Claims still live when the events are read: held, one of them renewed.
    for who in ("r1", "r2"):
        held = queue.claim_next(who)
        if held is not None and who == "r2":
            queue.heartbeat(held, lease_s=600)


def test_rebuild_from_the_events_gives_the_same_state(
    review_queue: ReviewQueue, redis_client: redis.Redis, make_item: MakeItem
) -> None:
    _random_workload(review_queue, make_item, seed=7)
    events = [e.value for e in outbox(review_queue, "review.events")]
    assert len(events) > 200
    target = f"{review_queue.prefix}-rebuilt"
    # At-least-once delivery: duplicates (a relay re-sending) are skipped.
    stats = rebuild(redis_client, target, events + events[:40])
    assert stats.duplicates == 40 and stats.gaps == 0
    assert stats.erased > 0 and stats.items > 0 and stats.claims >= 2
    copy = ReviewQueue(redis_client, target)
    # The whole state, live claims and leases included (the leases are 300 s or more).
    _same_state(review_queue, copy)
    # A rebuilt queue works: claim and settle something.
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


def test_a_live_claim_is_restored_and_its_holder_decides_with_it(
    review_queue: ReviewQueue, redis_client: redis.Redis, make_item: MakeItem
) -> None:
    review_queue.enqueue_many([make_item("two", reviews_required=2), make_item("one")])
    alice = review_queue.claim("two", "alice")
    bob = review_queue.claim("two", "bob")
    carol = review_queue.claim("one", "carol", lease_s=60)
    copy, stats = _rebuilt(review_queue, redis_client)
    assert (stats.claims, stats.lapsed_claims) == (3, 0)
    # The same claim ids, reviewers, expiries and versions, in the same keys.
    assert (
        copy.claims("two")
        == review_queue.claims("two")
        == sorted([alice, bob], key=lambda c: c.expires_ms)
    )
    assert copy.claims("one") == [carol]
    _same_state(review_queue, copy)
    # Their seats are taken: neither item is open, nobody else may claim them.
    assert copy.open_items() == []
    assert copy.claim_next("dave") is None
    with pytest.raises(ClaimRefused, match="every reviewer seat"):
        copy.claim("two", "dave")
    # Holders decide with the claim ids they had before the rebuild; a forged one is refused.
    with pytest.raises(StaleClaim, match="is not the live claim of alice"):
        copy.decide(decision("two", reviewer="alice", claim_id="forged"))
    assert not copy.decide(decision("two", reviewer="alice", claim_id=alice.claim_id)).final
    assert copy.decide(decision("two", reviewer="bob", claim_id=bob.claim_id)).final
    assert copy.decide(decision("one", reviewer="carol", claim_id=carol.claim_id)).final
    assert copy.claims("two") == copy.claims("one") == []
    assert redis_client.zcard(copy.keys.leases) == 0


def test_a_lapsed_lease_is_not_restored_and_a_restored_one_is_reaped_when_it_lapses(
    review_queue: ReviewQueue, redis_client: redis.Redis, make_item: MakeItem
) -> None:
    review_queue.enqueue_many([make_item("gone"), make_item("kept")])
    lapsed = review_queue.claim("gone", "alice", lease_s=0.2)
    kept = review_queue.claim("kept", "bob", lease_s=2.0)
    time.sleep(0.3)
    # Not expired in the live state yet (nothing reaped it), but its lease has run out.
    assert review_queue.claims("gone") == [lapsed]
    copy, stats = _rebuilt(review_queue, redis_client)
    assert (stats.claims, stats.lapsed_claims) == (1, 1)
    assert copy.claims("gone") == [] and copy.claims("kept") == [kept]
    assert [i.request_id for i in copy.open_items()] == ["gone"]  # its seat is free
    with pytest.raises(StaleClaim, match="is not live"):
        copy.decide(decision("gone", reviewer="alice", claim_id=lapsed.claim_id))
    # The restored lease runs out at its old expiry and the SLA clock expires it.
    time.sleep(max(0.0, kept.expires_ms / 1000 - time.time()) + 0.1)
    assert copy.tick().claims_expired == 1
    assert events(copy, "kept")[-1] == "claim_expired"
    assert sorted(i.request_id for i in copy.open_items()) == ["gone", "kept"]
    with pytest.raises(StaleClaim):
        copy.decide(decision("kept", reviewer="bob", claim_id=kept.claim_id))


def test_a_renewed_lease_is_restored_with_its_renewed_expiry(
    review_queue: ReviewQueue, redis_client: redis.Redis, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    first = review_queue.claim("x", "alice", lease_s=0.3)
    renewed = review_queue.heartbeat(first, lease_s=60)
    assert renewed.expires_ms > first.expires_ms
    [event] = review_queue.audit("x")[-1:]
    assert (event.type, event.claim_id, event.lease_expires_ms) == (
        "claim_renewed",
        first.claim_id,
        renewed.expires_ms,
    )
    time.sleep(0.4)  # past the first lease: only the renewal keeps it
    copy, stats = _rebuilt(review_queue, redis_client)
    assert stats.claims == 1
    assert copy.claims("x") == [renewed]
    assert redis_client.zscore(copy.keys.leases, "x|alice") == renewed.expires_ms
    _same_state(review_queue, copy)
    copy.decide(decision("x", reviewer="alice", claim_id=first.claim_id))


def test_released_decided_and_voided_claims_are_not_restored(
    review_queue: ReviewQueue, redis_client: redis.Redis, make_item: MakeItem
) -> None:
    review_queue.enqueue_many(
        [make_item("two", reviews_required=2), make_item("up"), make_item("moved")]
    )
    # Released, then decided (the first verdict of two): no claim left, one seat open.
    review_queue.release_claim(review_queue.claim("two", "alice"))
    bob = review_queue.claim("two", "bob")
    review_queue.decide(decision("two", reviewer="bob", claim_id=bob.claim_id))
    # Escalated: the new version voids the claim. Reassigned: other reviewers' claims void.
    carol = review_queue.claim("up", "carol")
    review_queue.decide(decision("up", "escalate", reviewer="carol", claim_id=carol.claim_id))
    review_queue.claim("moved", "dave")
    review_queue.assign("moved", "erin")
    # A comment does not end a claim.
    erin = review_queue.claim("moved", "erin")
    review_queue.decide(decision("moved", "comment", reviewer="erin"))
    copy, stats = _rebuilt(review_queue, redis_client)
    assert (stats.claims, stats.lapsed_claims) == (1, 0)
    assert copy.claims("two") == copy.claims("up") == []
    assert copy.claims("moved") == [erin]
    assert [i.request_id for i in copy.open_items()] == ["two"]
    assert [i.request_id for i in copy.open_items("lead")] == ["up"]
    _same_state(review_queue, copy)
