"""ReviewQueue against a real redis-server (tests/redis_fixtures.py): items, order, views,
decisions' outbox."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis

from tests.reviewers.helpers import decision, events, outbox, outbox_events
from vigil.reviewers.exceptions import InvalidDecision, ItemNotFound
from vigil.reviewers.policy import ReviewPolicy
from vigil.reviewers.queue import DECISIONS_TOPIC, ReviewQueue
from vigil_client.contracts import CheckResult, ReviewDecision, ReviewEvent, ReviewItem

MakeItem = Callable[..., ReviewItem]
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_settle_keeps_the_first_outcome_of_each_request_id(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    queued, clean = b'{"verdict":"queued"}', b'{"verdict":"clean"}'
    # First delivery: req-a queued with its item, req-b clean.
    earlier = review_queue.settle([("req-a", queued), ("req-b", clean)], [make_item("req-a")], 60)
    assert earlier == {} and review_queue.count_pending() == 1
    # A re-delivery screened otherwise: each id gets its first outcome back, and the item
    # of the new verdict (req-b now flagged) is not stored.
    again = review_queue.settle([("req-a", clean), ("req-b", queued)], [make_item("req-b")], 60)
    assert again == {"req-a": queued, "req-b": clean}
    assert review_queue.get("req-b") is None and review_queue.count_pending() == 1
    # The same id twice in one call: settled by the first, its item stored once.
    twice = review_queue.settle(
        [("req-c", queued), ("req-c", clean)], [make_item("req-c"), make_item("req-c")], 60
    )
    assert twice == {"req-c": queued} and review_queue.get("req-c") is not None
    assert review_queue.count_pending() == 2
    # Kept for the TTL only.
    ttl_ms = review_queue.client.pttl(review_queue.keys.settled("req-a"))
    assert 0 < int(ttl_ms) <= 60_000
    with pytest.raises(ValueError, match="without an outcome"):
        review_queue.settle([("req-d", clean)], [make_item("req-e")], 60)


def test_enqueue_is_idempotent_by_request_id(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item("req-1")
    assert review_queue.enqueue(item) is True
    # A re-delivery, even with different content, never creates a second item.
    assert review_queue.enqueue(make_item("req-1", risk_score=0.1)) is False
    assert review_queue.enqueue_many([item, item]) == [False, False]
    assert review_queue.count_pending() == 1
    assert review_queue.get("req-1") == item
    assert review_queue.state("req-1") == "pending"
    assert events(review_queue, "req-1") == ["queued"]
    [queued] = review_queue.audit("req-1")
    assert queued.state.tier == "reviewer" and queued.seq == 1 and queued.item is None
    # On review.events the queued event carries the item and how it is queued (for rebuild).
    [published] = outbox_events(review_queue)
    assert published.event_id == "req-1:1" and published.item == item
    assert published.queue is not None and published.queue.views == [
        "check:arithmetic",
        "model:175b_verification",
        "segment:locale=en-US",
        "product:tutor",
    ]
    assert published.model_copy(update={"item": None, "queue": None}) == queued


def test_a_batch_with_a_repeated_id_stores_it_once(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    a, b = make_item("a"), make_item("b")
    assert review_queue.enqueue_many([a, b, make_item("a", risk_score=0.1)]) == [True, True, False]
    assert review_queue.count_pending() == 2


def test_redelivery_after_decision_does_not_requeue(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item()
    review_queue.enqueue(item)
    review_queue.decide(decision(item, "correct"))
    assert review_queue.enqueue(item) is False
    assert review_queue.count_pending() == 0
    assert review_queue.state(item.request_id) == "decided"


def test_pending_orders_by_risk_then_age(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    review_queue.enqueue(
        make_item("mid-late", risk_score=0.5, enqueued_at=T0 + timedelta(seconds=2))
    )
    review_queue.enqueue(make_item("high-early", risk_score=0.9, enqueued_at=T0))
    review_queue.enqueue(
        make_item("mid-early", risk_score=0.5, enqueued_at=T0 + timedelta(seconds=1))
    )
    review_queue.enqueue(
        make_item("high-late", risk_score=0.9, enqueued_at=T0 + timedelta(seconds=3))
    )
    review_queue.enqueue(make_item("zero", risk_score=0.0, enqueued_at=T0))
    ids = [i.request_id for i in review_queue.pending()]
    assert ids == ["high-early", "high-late", "mid-early", "mid-late", "zero"]


def test_priority_weighs_the_sla_deadline_against_risk(
    redis_client: redis.Redis, make_item: MakeItem
) -> None:
    # One hour of deadline per 1.0 of risk: a low-risk item due in 10 minutes comes before
    # a high-risk one due in 4 hours, but after a high-risk one due in 30 minutes.
    queue = ReviewQueue(redis_client, "prio-test", ReviewPolicy(risk_weight_s=3600))
    redis_client.delete(*redis_client.keys("prio-test:*") or ["x"])
    queue.enqueue(make_item("risky-late", risk_score=0.9, sla_deadline=T0 + timedelta(hours=4)))
    queue.enqueue(make_item("calm-soon", risk_score=0.1, sla_deadline=T0 + timedelta(minutes=10)))
    queue.enqueue(make_item("risky-soon", risk_score=0.9, sla_deadline=T0 + timedelta(minutes=30)))
    for item in (
        "risky-late",
        "calm-soon",
        "risky-soon",
    ):
        assert queue.review_state(item) is not None
    assert [i.request_id for i in queue.pending()] == ["risky-soon", "calm-soon", "risky-late"]
    state = queue.review_state("calm-soon")
    assert state is not None
    assert state.deadline_ms - state.score == 360_000  # 0.1 x 1 h


def test_pending_pages(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    items = [
        # Distinct risks, enqueued in an order unrelated to the expected order.
        make_item(f"r{n:03d}", risk_score=(n * 37 % 120) / 120, enqueued_at=T0)
        for n in range(120)
    ]
    assert all(review_queue.enqueue_many(items))
    assert review_queue.count_pending() == 120
    pages = [review_queue.pending(offset, 50) for offset in (0, 50, 100, 150)]
    assert [len(p) for p in pages] == [50, 50, 20, 0]
    flat = [i for page in pages for i in page]
    assert len({i.request_id for i in flat}) == 120
    risks = [i.risk_score for i in flat]
    assert risks == sorted(risks, reverse=True)
    assert review_queue.pending(-1, 10) == [] and review_queue.pending(0, 0) == []


def test_views_by_check_segment_model_alert_and_product(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    flagged = [CheckResult(check="pii", score=0.7, flagged=True)]
    review_queue.enqueue(make_item("a", metadata={"locale": "de-DE", "user_id": "u1"}))
    review_queue.enqueue(make_item("b", checks=flagged, model_version="6b_finetuning"))
    review_queue.enqueue(make_item("c", alert_id="drift-7", product="shop", risk_score=0.9))
    assert [i.request_id for i in review_queue.view("check:arithmetic")] == ["c", "a"]
    assert [i.request_id for i in review_queue.view("check:pii")] == ["b"]
    assert [i.request_id for i in review_queue.view("segment:locale=de-DE")] == ["a"]
    assert review_queue.view("segment:user_id=u1") == []  # not a segment key: not indexed
    assert [i.request_id for i in review_queue.view("model:6b_finetuning")] == ["b"]
    assert [i.request_id for i in review_queue.view("alert:drift-7")] == ["c"]
    assert [i.request_id for i in review_queue.view("product:shop")] == ["c"]
    assert [i.request_id for i in review_queue.view("check:arithmetic", 1, 1)] == ["a"]
    assert review_queue.view_counts("check") == {"check:arithmetic": 2, "check:pii": 1}
    assert review_queue.view_counts()["model:175b_verification"] == 2
    review_queue.decide(decision("c"))
    # Views list unsettled items only.
    assert review_queue.view("alert:drift-7") == []
    assert review_queue.count_view("check:arithmetic") == 1
    assert "alert:drift-7" not in review_queue.view_counts()


def test_decide_records_decision_and_outbox_events(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item()
    review_queue.enqueue(item)
    made = decision(item, "correct", comment="step 3 adds wrong")
    stored = review_queue.decide(made)
    assert stored.decision_id == made.decision_id and stored.final is True
    assert (stored.tier, stored.item_version) == ("reviewer", 1)
    assert stored.original_answer == "70" and stored.original_steps == item.steps
    assert stored.diff is not None and "-A: 70" in stored.diff and "+A: 72" in stored.diff

    assert review_queue.state(item.request_id) == "decided"
    assert review_queue.decision(item.request_id) == stored
    assert review_queue.decisions(item.request_id) == [stored]
    assert review_queue.count_pending() == 0 and review_queue.pending() == []
    assert review_queue.get(item.request_id) == item  # the item itself is kept
    trail = review_queue.audit(item.request_id)
    # Decided without a claim first: the queue took the free seat in the same step.
    assert [e.type for e in trail] == ["queued", "decided"]
    assert trail[1].actor == "alice" and trail[1].decision == stored
    assert trail[1].state.state == "decided" and trail[1].expires_at_ms is not None

    [entry] = outbox(review_queue, DECISIONS_TOPIC)
    assert entry.key == item.request_id
    assert entry.dedupe == made.decision_id
    assert ReviewDecision.from_json(entry.value) == stored
    # The audit trail is what goes to review.events, in the same order (the queued event
    # there also carries the item).
    published = outbox_events(review_queue)
    assert [e.model_copy(update={"item": None, "queue": None}) for e in published] == trail


def test_second_decision_is_refused(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    item = make_item()
    review_queue.enqueue(item)
    first = review_queue.decide(decision(item, "correct", reviewer="alice"))
    with pytest.raises(InvalidDecision, match=r"already decided.*alice") as info:
        review_queue.decide(decision(item, "correct", reviewer="bob"))
    assert info.value.existing == first
    assert review_queue.decision(item.request_id) == first
    assert len(outbox(review_queue, DECISIONS_TOPIC)) == 1
    assert len(review_queue.audit(item.request_id)) == 2


def test_retrying_the_same_decision_is_idempotent(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item()
    review_queue.enqueue(item)
    made = decision(item)
    stored = review_queue.decide(made)
    assert review_queue.decide(made) == stored
    assert len(outbox(review_queue, DECISIONS_TOPIC)) == 1


def test_unknown_item_is_refused(review_queue: ReviewQueue) -> None:
    with pytest.raises(ItemNotFound, match="no review item"):
        review_queue.decide(decision("never-enqueued"))
    assert review_queue.state("never-enqueued") is None
    assert review_queue.get("never-enqueued") is None
    assert review_queue.decision("never-enqueued") is None
    assert review_queue.outbox_length() == 0


def test_every_event_matches_the_contract(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    item = make_item("contract", hold_for_review=True, reviews_required=2)
    review_queue.enqueue(item)
    review_queue.decide(decision(item, "comment"))
    review_queue.decide(decision(item, "approve", reviewer="a"))
    review_queue.decide(decision(item, "reject", reviewer="b"))  # disagree: to a lead
    review_queue.decide(decision(item, "correct", reviewer="lead1"), tiers=["lead"])
    for entry in outbox(review_queue):
        raw = orjson.loads(entry.value)
        assert raw["request_id"] == item.request_id == entry.key
        if entry.topic == "review.events":
            assert ReviewEvent.from_json(entry.value).event_id == entry.dedupe


def test_outbox_redelivers_unacked_entries_after_relay_crash(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    items = [make_item(f"o{n}") for n in range(3)]
    review_queue.enqueue_many(items)

    first = review_queue.outbox_read("relay-a", block_ms=100)
    assert [e.key for e in first] == ["o0", "o1", "o2"]
    # The relay "crashes" before acking; a restart under the same name gets them again.
    restarted = ReviewQueue(redis.Redis.from_url(_url(review_queue)), review_queue.prefix)
    again = restarted.outbox_read("relay-a", block_ms=100)
    assert again == first

    restarted.outbox_ack([first[0].entry_id, first[1].entry_id])
    assert [e.key for e in restarted.outbox_read("relay-a", block_ms=100)] == ["o2"]
    assert restarted.outbox_length() == 1  # acked entries are deleted, not just acked

    restarted.outbox_ack([first[2].entry_id])
    assert restarted.outbox_read("relay-a", block_ms=50) == []
    assert restarted.outbox_length() == 0


def test_outbox_pending_entries_come_before_new_ones(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("first"))
    assert [e.key for e in review_queue.outbox_read("r", block_ms=50)] == ["first"]
    review_queue.enqueue(make_item("second"))
    assert [e.key for e in review_queue.outbox_read("r", block_ms=50)] == ["first", "second"]
    assert [e.key for e in review_queue.outbox_read("r", count=1, block_ms=50)] == ["first"]


def test_outbox_claim_takes_over_a_dead_relays_entries(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item())
    [entry] = review_queue.outbox_read("dead-relay", block_ms=50)
    assert review_queue.outbox_read("new-relay", block_ms=50) == []
    assert review_queue.outbox_claim("new-relay", min_idle_ms=0) == [entry]
    assert review_queue.outbox_read("new-relay", block_ms=50) == [entry]


def test_outbox_read_blocks_then_returns_empty(review_queue: ReviewQueue) -> None:
    assert review_queue.outbox_read("idle", block_ms=50) == []


def test_concurrent_decisions_exactly_one_wins(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item()
    review_queue.enqueue(item)
    decisions = [decision(item, "correct", reviewer=f"reviewer-{n}") for n in range(8)]
    barrier = threading.Barrier(len(decisions))
    won: list[ReviewDecision] = []
    refused: list[InvalidDecision] = []
    lock = threading.Lock()

    def race(d: ReviewDecision) -> None:
        barrier.wait()
        try:
            result = review_queue.decide(d)
        except InvalidDecision as exc:
            with lock:
                refused.append(exc)
        else:
            with lock:
                won.append(result)

    threads = [threading.Thread(target=race, args=(d,)) for d in decisions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(won) == 1 and len(refused) == 7
    assert review_queue.decision(item.request_id) == won[0]
    entries = outbox(review_queue, DECISIONS_TOPIC)
    assert [orjson.loads(e.value)["reviewer"] for e in entries] == [won[0].reviewer]


def _url(queue: ReviewQueue) -> str:
    kw = queue.client.connection_pool.connection_kwargs
    # The test Redis admits its ACL user only (reviewers/redis_server.py).
    login = f"{kw['username']}:{kw['password']}@" if kw.get("password") else ""
    return f"redis://{login}{kw['host']}:{kw['port']}/{kw.get('db', 0)}"
