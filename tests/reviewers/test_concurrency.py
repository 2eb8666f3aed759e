"""50 simulated reviewers (threads) claim and decide 1,000 items on real Redis: no item is
ever claimed by two at once, every item version gets exactly one verdict, no acknowledged
decision is lost. Some reviewers abandon claims (their leases expire) and come back with
the stale claim, which must be refused."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import redis

from tests.reviewers.helpers import decision
from vigil.reviewers.exceptions import InvalidDecision, StaleClaim
from vigil.reviewers.policy import ReviewPolicy
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewDecision, ReviewItem

MakeItem = Callable[..., ReviewItem]
REVIEWERS = 50
ITEMS = 1000


def test_50_reviewers_1000_items(redis_client: redis.Redis, make_item: MakeItem) -> None:
    prefix = "concurrency-test"
    redis_client.delete(*redis_client.keys(f"{prefix}:*") or ["x"])
    # Short leases, so that abandoned claims expire during the run.
    queue = ReviewQueue(redis_client, prefix, ReviewPolicy(lease_s=1.0))
    items = [make_item(f"c{n:04d}", risk_score=(n % 10) / 10) for n in range(ITEMS)]
    assert all(queue.enqueue_many(items))

    acked: dict[str, ReviewDecision] = {}
    stale_refused: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def reviewer(n: int) -> None:
        rng = random.Random(n)
        name = f"reviewer-{n:02d}"
        try:
            while True:
                claim = queue.claim_next(name)
                if claim is None:
                    if queue.count_pending() == 0:
                        return
                    time.sleep(0.05)  # others hold the rest; leases may still lapse
                    continue
                if rng.random() < 0.03:
                    # Walk away, let the lease lapse, come back with the stale claim.
                    time.sleep(1.2)
                    try:
                        queue.decide(
                            decision(claim.request_id, reviewer=name, claim_id=claim.claim_id)
                        )
                    except InvalidDecision as exc:
                        # StaleClaim, or "already decided" when another reviewer took the
                        # lapsed item and settled it meanwhile: refused either way.
                        with lock:
                            stale_refused.append(type(exc).__name__)
                        continue
                    raise AssertionError("a decision under a lapsed claim was accepted")
                kind = rng.choice(["approve", "reject", "correct"])
                try:
                    stored = queue.decide(
                        decision(claim.request_id, kind, reviewer=name, claim_id=claim.claim_id)
                    )
                except StaleClaim:
                    continue  # this thread stalled past its lease (a loaded machine): refused
                except InvalidDecision as exc:
                    # Stalled past its lease, and another reviewer took the item and settled
                    # it meanwhile: the script answers "already decided" before the claim.
                    if "already decided" not in str(exc):
                        raise
                    continue

                with lock:
                    assert claim.request_id not in acked, "two verdicts acknowledged"
                    acked[claim.request_id] = stored
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(REVIEWERS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    elapsed = time.monotonic() - t0
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads)
    print(f"\n{REVIEWERS} reviewers settled {ITEMS} items in {elapsed:.1f}s")

    # No lost decisions: every acknowledged decision is the stored, final one.
    assert len(acked) == ITEMS and queue.count_pending() == 0
    pipe = redis_client.pipeline(transaction=False)
    for rid in acked:
        pipe.hget(queue.keys.item(rid), "decision")
        pipe.hlen(queue.keys.decisions(rid))
    replies = pipe.execute()
    for (rid, stored), raw, count in zip(acked.items(), replies[::2], replies[1::2], strict=True):
        assert ReviewDecision.from_json(raw) == stored
        assert count == 1, f"{rid}: {count} decisions"  # exactly one per item version
    assert stale_refused  # lapsed claims were exercised, and their decisions refused

    # Zero double claims: replay every item's trail; never two live claims at once.
    for item in items:
        live: set[str] = set()
        for event in queue.audit(item.request_id):
            if event.type == "claimed":
                assert not live, f"{item.request_id}: {event.reviewer} claimed while {live} held"
                live.add(event.claim_id or "")
            elif event.type in ("claim_expired", "claim_released"):
                live.discard(event.claim_id or "")
            elif event.type == "decided":
                assert event.decision is not None
                live.discard(event.decision.claim_id or "")
        assert not live
    verdicts: defaultdict[tuple[str, int], int] = defaultdict(int)
    for rid, stored in acked.items():
        verdicts[(rid, stored.item_version)] += 1
    assert set(verdicts.values()) == {1}
