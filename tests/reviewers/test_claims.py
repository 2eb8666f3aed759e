"""Claims on real Redis: leases, heartbeat, expiry and reclaim, stale and foreign claims,
N reviewers per item, assigned-reviewer mode, tiers."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.reviewers.helpers import decision, events
from vigil.reviewers.exceptions import ClaimRefused, InvalidDecision, StaleClaim
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewItem

MakeItem = Callable[..., ReviewItem]


def test_claim_next_gives_the_most_urgent_item_once(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("low", risk_score=0.2))
    review_queue.enqueue(make_item("high", risk_score=0.9))
    a = review_queue.claim_next("alice")
    b = review_queue.claim_next("bob")
    assert a is not None and b is not None
    assert (a.request_id, b.request_id) == ("high", "low")
    assert review_queue.claim_next("carol") is None  # nothing left unclaimed
    assert a.item_version == 1 and a.tier == "reviewer"
    assert a.expires_ms > time.time() * 1000
    # The claimed items are still pending (listed), just not claimable.
    assert review_queue.count_pending() == 2
    assert review_queue.open_items() == []
    assert events(review_queue, "high") == ["queued", "claimed"]
    [claimed] = review_queue.audit("high")[1:]
    assert claimed.reviewer == "alice" and claimed.claim_id == a.claim_id


def test_claiming_an_item_twice_returns_the_same_claim(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    first = review_queue.claim("x", "alice")
    assert review_queue.claim("x", "alice") == first
    with pytest.raises(ClaimRefused, match="every reviewer seat on it is taken") as info:
        review_queue.claim("x", "bob")
    assert info.value.reason == "full"
    with pytest.raises(ClaimRefused, match="no review item"):
        review_queue.claim("nope", "bob")


def test_decision_under_the_claim_succeeds_and_others_are_refused(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    claim = review_queue.claim("x", "alice")
    # Bob has no claim: the seat is alice's.
    with pytest.raises(InvalidDecision, match="every reviewer seat is claimed \\(by alice\\)"):
        review_queue.decide(decision("x", reviewer="bob"))
    # Bob presenting alice's claim id: a foreign claim.
    with pytest.raises(StaleClaim, match="is not live"):
        review_queue.decide(decision("x", reviewer="bob", claim_id=claim.claim_id))
    # Alice with a made-up claim id.
    with pytest.raises(StaleClaim, match="is not the live claim of alice"):
        review_queue.decide(decision("x", reviewer="alice", claim_id="forged"))
    stored = review_queue.decide(decision("x", reviewer="alice", claim_id=claim.claim_id))
    assert stored.claim_id == claim.claim_id and stored.final
    assert review_queue.claims("x") == []


def test_an_expired_claim_is_reclaimable_and_its_decision_refused(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    stale = review_queue.claim("x", "alice", lease_s=0.2)
    time.sleep(0.3)
    fresh = review_queue.claim_next("bob")
    assert fresh is not None and fresh.request_id == "x"
    with pytest.raises(StaleClaim, match="is not live"):
        review_queue.decide(decision("x", reviewer="alice", claim_id=stale.claim_id))
    with pytest.raises(StaleClaim):
        review_queue.heartbeat(stale)
    review_queue.decide(decision("x", reviewer="bob", claim_id=fresh.claim_id))
    assert events(review_queue, "x") == [
        "queued",
        "claimed",
        "claim_expired",
        "claimed",
        "decided",
    ]


def test_heartbeat_keeps_a_claim_alive(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    review_queue.enqueue(make_item("x"))
    claim = review_queue.claim("x", "alice", lease_s=2.0)
    for _ in range(4):
        time.sleep(0.6)
        claim = review_queue.heartbeat(claim, lease_s=2.0)
    assert review_queue.claim_next("bob") is None  # 2.4 s after a 2 s lease: still alice's
    assert review_queue.tick().claims_expired == 0
    review_queue.decide(decision("x", reviewer="alice", claim_id=claim.claim_id))


def test_a_lapsed_claim_is_expired_by_the_sla_clock(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    review_queue.claim("x", "alice", lease_s=0.1)
    assert review_queue.open_items() == []
    time.sleep(0.2)
    assert review_queue.tick().claims_expired == 1
    assert [i.request_id for i in review_queue.open_items()] == ["x"]


def test_releasing_a_claim_frees_the_seat(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    review_queue.enqueue(make_item("x"))
    claim = review_queue.claim("x", "alice")
    review_queue.release_claim(claim)
    with pytest.raises(StaleClaim):
        review_queue.release_claim(claim)
    assert review_queue.claim("x", "bob").reviewer == "bob"
    assert events(review_queue, "x")[-2:] == ["claim_released", "claimed"]


def test_n_reviewers_each_hold_one_seat_and_judge_once(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x", reviews_required=3))
    claims = [review_queue.claim_next(r) for r in ("a", "b", "c")]
    assert all(c is not None and c.request_id == "x" for c in claims)
    assert review_queue.claim_next("d") is None  # three seats, three claims
    assert review_queue.claim_next("a") is None  # holds one already
    first = claims[0]
    assert first is not None
    stored = review_queue.decide(decision("x", reviewer="a", claim_id=first.claim_id))
    assert stored.final is False and review_queue.state("x") == "pending"
    # A judged the version: may not take another seat on it, even when one frees up.
    second = claims[1]
    assert second is not None
    review_queue.release_claim(second)
    assert review_queue.claim_next("a") is None
    with pytest.raises(ClaimRefused, match="verdict on this version already"):
        review_queue.claim("x", "a")
    with pytest.raises(InvalidDecision, match="gave a verdict on this version already"):
        review_queue.decide(decision("x", reviewer="a"))
    d = review_queue.claim_next("d")
    assert d is not None and d.request_id == "x"


def test_assigned_items_go_to_their_reviewer_only(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("mine", assigned_reviewer="alice", risk_score=0.1))
    review_queue.enqueue(make_item("open", risk_score=0.9))
    bob = review_queue.claim_next("bob")
    assert bob is not None and bob.request_id == "open"
    assert review_queue.claim_next("bob") is None
    with pytest.raises(ClaimRefused, match="assigned to alice"):
        review_queue.claim("mine", "bob")
    with pytest.raises(InvalidDecision, match="assigned to alice"):
        review_queue.decide(decision("mine", reviewer="bob"))
    alice = review_queue.claim_next("alice")  # her assigned item first, though less urgent
    assert alice is not None and alice.request_id == "mine"
    # Reassigning voids other reviewers' claims and routes it to the new assignee.
    review_queue.assign("mine", "carol", actor="lead1")
    with pytest.raises(StaleClaim):
        review_queue.heartbeat(alice)
    carol = review_queue.claim_next("carol")
    assert carol is not None and carol.request_id == "mine"
    assert events(review_queue, "mine")[-3:] == ["claimed", "assigned", "claimed"]


def test_tiers_limit_who_claims_and_decides(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    review_queue.enqueue(make_item("x"))
    review_queue.decide(decision("x", "escalate", reviewer="alice"))
    assert review_queue.claim_next("bob", tiers=["reviewer"]) is None
    with pytest.raises(ClaimRefused, match="at tier lead"):
        review_queue.claim("x", "bob", tiers=["reviewer"])
    with pytest.raises(InvalidDecision, match="at tier lead, which bob may not decide at"):
        review_queue.decide(decision("x", reviewer="bob"), tiers=["reviewer"])
    lead = review_queue.claim_next("lead1", tiers=["lead", "reviewer"])
    assert lead is not None and (lead.tier, lead.item_version) == ("lead", 2)
