"""Retention and erasure of a data subject's items, on real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
import redis

from tests.reviewers.helpers import decision, outbox, outbox_events
from vigil.reviewers.keys import text
from vigil.reviewers.policy import ReviewPolicy
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.rebuild import snapshot
from vigil_client.contracts import ReviewItem

MakeItem = Callable[..., ReviewItem]


def test_erase_removes_every_item_of_the_subject(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("p1", metadata={"user_id": "u-42", "locale": "en"}))
    review_queue.enqueue(
        make_item("p2", metadata={"user_id": "u-42"}, hold_for_review=True, reviews_required=2)
    )
    review_queue.enqueue(make_item("other", metadata={"user_id": "u-7"}))
    review_queue.decide(decision("p1", "correct"))
    review_queue.claim("p2", "alice")
    review_queue.decide(decision("p2", reviewer="bob"))
    assert review_queue.subject_items("u-42") == ["p1", "p2"]

    assert review_queue.erase_subject("u-42", actor="dpo") == ["p1", "p2"]
    client, prefix = review_queue.client, review_queue.prefix
    left = sorted(text(k) for k in client.keys(f"{prefix}:*"))
    # Only the markers that keep a re-delivery out are left of the two items.
    assert [k for k in left if "p1" in k or "p2" in k] == [
        f"{prefix}:erased:p1",
        f"{prefix}:erased:p2",
    ]
    everything = b"".join(
        orjson.dumps(snapshot_value) for snapshot_value in snapshot(client, prefix).values()
    )
    assert b"u-42" not in everything and b"p1" not in everything.replace(b"erased:p1", b"")
    for rid in ("p1", "p2"):
        assert review_queue.get(rid) is None and review_queue.audit(rid) == []
        assert review_queue.is_erased(rid)
        assert review_queue.enqueue(make_item(rid)) is False  # a re-delivery stays out
    assert review_queue.count_pending() == 1 and review_queue.get("other") is not None
    assert all(b"p2" not in m for m in client.zrange(f"{prefix}:leases", 0, -1))
    # Tombstones: an ``erased`` event per item, with nothing of the subject's data.
    tombstones = [e for e in outbox_events(review_queue) if e.type == "erased"]
    assert sorted(e.request_id for e in tombstones) == ["p1", "p2"]
    assert all(e.actor == "dpo" and e.item is None and e.decision is None for e in tombstones)
    for entry in outbox(review_queue, "review.events"):
        if b'"erased"' in entry.value:
            assert b"u-42" not in entry.value
    # The held item's product is not left waiting: it gets an ``erased`` release.
    [release] = [e for e in outbox(review_queue, "review.releases") if e.key == "p2"]
    assert b'"outcome":"erased"' in release.value and b'"deliver":false' in release.value
    assert review_queue.erase_subject("u-42") == []


def test_a_settled_item_expires_after_the_retention_time(
    redis_client: redis.Redis, make_item: MakeItem
) -> None:
    queue = ReviewQueue(redis_client, "retention-test", ReviewPolicy(retention_s=0.5))
    redis_client.delete(*redis_client.keys("retention-test:*") or ["x"])
    queue.enqueue(make_item("keep"))
    queue.enqueue(make_item("gone", metadata={"user_id": "u"}))
    queue.decide(decision("gone"))
    for key in (queue.keys.item("gone"), queue.keys.audit("gone"), queue.keys.decisions("gone")):
        assert 0 < redis_client.pttl(key) <= 500
    assert redis_client.pttl(queue.keys.item("keep")) == -1  # unsettled: kept
    time.sleep(0.7)
    assert queue.get("gone") is None and queue.audit("gone") == []
    queue.tick()  # drops it from the settled index too
    assert redis_client.zcard(queue.keys.decided) == 0
    assert queue.get("keep") is not None
