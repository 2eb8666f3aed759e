"""ReviewQueue against a real redis-server (tests/redis_fixtures.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis

from reviewers.exceptions import InvalidDecision, ItemNotFound
from reviewers.queue import DECISIONS_TOPIC, ReviewQueue
from vigil.contracts import ReviewDecision, ReviewItem

MakeItem = Callable[..., ReviewItem]
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def correction(item: ReviewItem, reviewer: str = "alice", **extra: object) -> ReviewDecision:
    return ReviewDecision(
        request_id=item.request_id,
        decision="correct",
        reviewer=reviewer,
        corrected_answer="72",
        first_wrong_step=2,
        model_name=item.model_name,
        model_version=item.model_version,
        product=item.product,
        tenant=item.tenant,
        metadata=item.metadata,
        **extra,  # type: ignore[arg-type]
    )


def test_enqueue_is_idempotent_by_request_id(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item("req-1")
    assert review_queue.enqueue(item) is True
    # A re-delivery, even with different content, never creates a second item.
    assert review_queue.enqueue(make_item("req-1", risk_score=0.1)) is False
    assert review_queue.count_pending() == 1
    assert review_queue.get("req-1") == item
    assert review_queue.state("req-1") == "pending"
    assert [e["action"] for e in review_queue.audit("req-1")] == ["enqueued"]


def test_redelivery_after_decision_does_not_requeue(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item()
    review_queue.enqueue(item)
    review_queue.decide(correction(item))
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


def test_pending_pages(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    for n in range(120):
        # Distinct risks, enqueued in an order unrelated to the expected order.
        review_queue.enqueue(
            make_item(f"r{n:03d}", risk_score=(n * 37 % 120) / 120, enqueued_at=T0)
        )
    assert review_queue.count_pending() == 120
    pages = [review_queue.pending(offset, 50) for offset in (0, 50, 100, 150)]
    assert [len(p) for p in pages] == [50, 50, 20, 0]
    flat = [i for page in pages for i in page]
    assert len({i.request_id for i in flat}) == 120
    risks = [i.risk_score for i in flat]
    assert risks == sorted(risks, reverse=True)
    assert review_queue.pending(-1, 10) == [] and review_queue.pending(0, 0) == []


def test_decide_records_decision_and_outbox_event(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item()
    review_queue.enqueue(item)
    decision = correction(item, comment="step 3 adds wrong")
    assert review_queue.decide(decision) == decision

    assert review_queue.state(item.request_id) == "decided"
    assert review_queue.decision(item.request_id) == decision
    assert review_queue.count_pending() == 0 and review_queue.pending() == []
    assert review_queue.get(item.request_id) == item  # the item itself is kept
    trail = review_queue.audit(item.request_id)
    assert [e["action"] for e in trail] == ["enqueued", "decided"]
    assert trail[1]["actor"] == "alice" and trail[1]["decision_id"] == decision.decision_id

    entries = review_queue.outbox_read("relay-1", block_ms=100)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.topic == DECISIONS_TOPIC
    assert entry.key == item.request_id
    assert entry.dedupe == decision.decision_id
    assert ReviewDecision.from_json(entry.value) == decision


def test_second_decision_is_refused(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    item = make_item()
    review_queue.enqueue(item)
    first = correction(item, reviewer="alice")
    review_queue.decide(first)
    with pytest.raises(InvalidDecision, match=r"already decided.*alice"):
        review_queue.decide(correction(item, reviewer="bob"))
    assert review_queue.decision(item.request_id) == first
    assert review_queue.outbox_length() == 1
    assert len(review_queue.audit(item.request_id)) == 2


def test_retrying_the_same_decision_is_idempotent(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item()
    review_queue.enqueue(item)
    decision = correction(item)
    review_queue.decide(decision)
    assert review_queue.decide(decision) == decision
    assert review_queue.outbox_length() == 1


def test_unknown_item_is_refused(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    with pytest.raises(ItemNotFound, match="no review item"):
        review_queue.decide(correction(make_item("never-enqueued")))
    assert review_queue.state("never-enqueued") is None
    assert review_queue.get("never-enqueued") is None
    assert review_queue.decision("never-enqueued") is None
    assert review_queue.outbox_length() == 0


def test_outbox_redelivers_unacked_entries_after_relay_crash(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    items = [make_item(f"o{n}") for n in range(3)]
    for item in items:
        review_queue.enqueue(item)
        review_queue.decide(correction(item))

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
    a, b = make_item("first"), make_item("second")
    for item in (a, b):
        review_queue.enqueue(item)
    review_queue.decide(correction(a))
    assert [e.key for e in review_queue.outbox_read("r", block_ms=50)] == ["first"]
    review_queue.decide(correction(b))
    assert [e.key for e in review_queue.outbox_read("r", block_ms=50)] == ["first", "second"]
    assert [e.key for e in review_queue.outbox_read("r", count=1, block_ms=50)] == ["first"]


def test_outbox_claim_takes_over_a_dead_relays_entries(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item()
    review_queue.enqueue(item)
    review_queue.decide(correction(item))
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
    decisions = [correction(item, reviewer=f"reviewer-{n}") for n in range(8)]
    barrier = threading.Barrier(len(decisions))
    won: list[ReviewDecision] = []
    refused: list[InvalidDecision] = []
    lock = threading.Lock()

    def race(decision: ReviewDecision) -> None:
        barrier.wait()
        try:
            result = review_queue.decide(decision)
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
    entries = review_queue.outbox_read("relay", block_ms=50)
    assert [orjson.loads(e.value)["reviewer"] for e in entries] == [won[0].reviewer]


def _url(queue: ReviewQueue) -> str:
    kw = queue.client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"
