"""The review domain on its own real stack (Redis with AOF, Kafka, the relay process that
also runs the SLA clock; tests/integration/review_stack.py), started once for this module.

- 50 simulated reviewers claim and decide 1,000 items while Redis is killed with SIGKILL
  and restarted from its AOF: no acknowledged decision is lost (in Redis and on
  ``review.decisions``), every item got exactly one verdict, and ``vigil rebuild`` from
  ``review.events`` into an empty database gives the same review state, including a claim
  live across the crash, which its holder then decides with.
- SLA breaches escalate on time and the hold-and-release fallback fires at the deadline,
  both seen on Kafka, the release through the product SDK.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import redis
from kafka import KafkaConsumer

from tests.integration.review_stack import ReviewStack, review_stack
from tests.redis_fixtures import review_item
from vigil.reviewers.connect import redis_client
from vigil.reviewers.exceptions import InvalidDecision
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.rebuild import snapshot
from vigil.streams import topics
from vigil_client.client import VigilClient
from vigil_client.contracts import ReviewDecision, ReviewEvent, ReviewRelease

__all__ = ["review_stack"]
REVIEWERS = 50
ITEMS = 1000
KEPT = "kept-claim"  # held by "keeper" across the crash; assigned, so no reviewer takes it
T = TypeVar("T")


def _retry(call: Callable[[], T], stop: threading.Event) -> T:
    """Redis away (killed, restarting, loading its AOF): try again; anything else raises."""
    while True:
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError):
            if stop.is_set():
                raise
            time.sleep(0.05)


def _decision(rid: str, kind: str, reviewer: str, claim_id: str) -> ReviewDecision:
    fields: dict[str, object] = {
        "request_id": rid,
        "decision": kind,
        "reviewer": reviewer,
        "claim_id": claim_id,
        "model_name": "replay-reasoner",
        "model_version": "175b_verification",
    }
    if kind == "correct":
        fields |= {"corrected_answer": "72", "first_wrong_step": 2}
    return ReviewDecision.model_validate(fields)


def _kafka_decisions(bootstrap: str, want: set[str], timeout_s: float) -> dict[str, int]:
    """decision id -> times seen on review.decisions (at-least-once: maybe more than once)."""
    consumer = KafkaConsumer(
        topics.DECISIONS,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not want <= set(seen):
            for msg in consumer:
                did = ReviewDecision.from_json(msg.value).decision_id
                seen[did] = seen.get(did, 0) + 1
    finally:
        consumer.close()
    return seen


def test_kill_9_redis_mid_run_loses_no_acknowledged_decision_and_rebuilds(
    review_stack: ReviewStack,
) -> None:
    stack = review_stack
    queue = stack.queue()
    items = [review_item(f"k{n:04d}", risk_score=(n % 10) / 10) for n in range(ITEMS)]
    assert all(queue.enqueue_many([*items, review_item(KEPT, assigned_reviewer="keeper")]))
    kept = queue.claim(KEPT, "keeper", lease_s=600)

    acked: dict[str, ReviewDecision] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []
    done = threading.Event()

    def reviewer(n: int) -> None:
        rng = random.Random(n)
        name = f"reviewer-{n:02d}"
        try:
            while True:
                claim = _retry(lambda: queue.claim_next(name), done)
                if claim is None:
                    if _retry(queue.count_pending, done) == 1:  # the kept one only
                        return
                    time.sleep(0.1)  # the rest is claimed (maybe by a lost reply: lapses)
                    continue
                made = _decision(
                    claim.request_id,
                    rng.choice(["approve", "reject", "correct"]),
                    name,
                    claim.claim_id,
                )
                try:
                    # The same decision id on a retry: if the first try was recorded but
                    # its reply lost in the crash, the retry returns the stored decision.
                    stored = _retry(lambda: queue.decide(made), done)  # noqa: B023
                except InvalidDecision:
                    continue  # the claim lapsed while Redis was down: not acknowledged
                with lock:
                    assert claim.request_id not in acked, "two verdicts acknowledged"
                    acked[claim.request_id] = stored
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(REVIEWERS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while len(acked) < ITEMS // 3:
        assert not errors, errors[:3]
        time.sleep(0.01)
    acked_before_kill = len(acked)
    redis_pid = stack.supervisor.pid("redis")
    assert redis_pid is not None
    os.kill(redis_pid, signal.SIGKILL)
    stack.restart_redis()
    for t in threads:
        t.join(timeout=300)
    done.set()
    elapsed = time.monotonic() - t0
    assert not errors, errors[:3]
    print(f"\nkilled Redis after {acked_before_kill} decisions; all settled in {elapsed:.1f}s")
    assert 0 < acked_before_kill < ITEMS

    # Nothing acknowledged is lost, and each item version got exactly one verdict.
    assert len(acked) == ITEMS and queue.count_pending() == 1
    # The kept claim survived the crash (AOF); its renewal is an event for the rebuild.
    renewed = queue.heartbeat(kept, lease_s=900)
    for rid, stored in acked.items():
        assert queue.decision(rid) == stored, rid
        assert queue.decisions(rid) == [stored], rid

    # Every decision reaches review.decisions (the relay rode out the restart).
    want = {d.decision_id for d in acked.values()}
    on_kafka = _kafka_decisions(stack.settings.kafka_bootstrap, want, timeout_s=120)
    assert want <= set(on_kafka), f"{len(want - set(on_kafka))} decisions not on Kafka"

    # `vigil rebuild` from review.events into an empty database: the same state.
    deadline = time.monotonic() + 120
    while queue.outbox_length():
        assert time.monotonic() < deadline, "the relay did not drain the outbox"
        time.sleep(0.2)
    url = stack.settings.redis_url
    empty = url.rsplit("/", 1)[0] + "/1"
    env = {**os.environ, **stack.settings.as_env(), "VIGIL_REDIS_URL": empty}
    out = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    print(out.stdout.strip())
    conn = stack.settings.redis_connection
    live = snapshot(redis_client(conn), "vigil")
    rebuilt = snapshot(redis_client(conn.model_copy(update={"url": empty})), "vigil")
    assert set(live) == set(rebuilt)
    assert [k for k in live if live[k] != rebuilt[k]] == []
    assert len(live) >= 3 * ITEMS  # items, audit trails, decisions (and indexes)
    # The live claim came back as it was renewed; its holder decides with its claim id.
    copy = ReviewQueue.connect(conn.model_copy(update={"url": empty}))
    assert copy.claims(KEPT) == [renewed]
    assert copy.decide(_decision(KEPT, "approve", "keeper", kept.claim_id)).final
    assert queue.decide(_decision(KEPT, "approve", "keeper", kept.claim_id)).final
    copy.client.flushdb()


# The clock ticks every 0.1 s here; this only bounds how late counts as "not on time" on a
# loaded 2-core CI machine. It is a correctness bound, not a performance target.
ON_TIME_MS = 5000


def _events(bootstrap: str, want: dict[str, set[str]], timeout_s: float) -> list[ReviewEvent]:
    """Reads review.events until each request id in ``want`` has shown its event types."""
    consumer = KafkaConsumer(
        topics.REVIEW_EVENTS,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=500,
    )
    got: list[ReviewEvent] = []
    deadline = time.monotonic() + timeout_s

    def complete() -> bool:
        return all(
            types <= {e.type for e in got if e.request_id == rid} for rid, types in want.items()
        )

    try:
        while time.monotonic() < deadline and not complete():
            for msg in consumer:
                event = ReviewEvent.from_json(msg.value)
                if event.request_id in want:
                    got.append(event)
    finally:
        consumer.close()
    return got


def _releases(
    client: VigilClient, want: set[str], timeout_s: float
) -> dict[str, list[ReviewRelease]]:
    """Each pass reads the topic from the start: request id -> every release seen for it."""
    got: dict[str, list[ReviewRelease]] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not want <= set(got):
        got = {}
        for release in client.releases(from_beginning=True, timeout_ms=1000):
            if release.request_id in want:
                got.setdefault(release.request_id, []).append(release)
    return got


def test_sla_breach_escalates_on_time_and_the_hold_fallback_fires_at_the_deadline(
    review_stack: ReviewStack,
) -> None:
    s = review_stack.settings
    queue = review_stack.queue()
    run = uuid.uuid4().hex[:8]
    product = f"sla-{run}"
    now = datetime.now(UTC)
    deadline = now + timedelta(seconds=3)
    breaching = review_item(f"breach-{run}", enqueued_at=now, sla_deadline=deadline)
    held = review_item(
        f"held-{run}",
        enqueued_at=now,
        sla_deadline=deadline,
        hold_for_review=True,
        hold_fallback="release_fallback",
        fallback_answer="We are double-checking this answer.",
        product=product,
    )
    reviewed = review_item(
        f"reviewed-{run}",
        enqueued_at=now,
        sla_deadline=deadline,
        hold_for_review=True,
        product=product,
    )
    queue.enqueue_many([breaching, held, reviewed])
    # The reviewed one is corrected before its deadline: released with the correction.
    queue.decide(
        ReviewDecision(
            request_id=reviewed.request_id,
            decision="correct",
            reviewer="alice",
            corrected_answer="72",
            model_name=reviewed.model_name,
            model_version=reviewed.model_version,
        )
    )
    assert queue.review_state(breaching.request_id).tier == "reviewer"  # type: ignore[union-attr]

    with VigilClient(s.kafka_bootstrap, product=product) as client:
        releases = _releases(client, {held.request_id, reviewed.request_id}, timeout_s=60)
        events = _events(
            s.kafka_bootstrap,
            {
                breaching.request_id: {"sla_breached", "escalated"},
                held.request_id: {"sla_breached", "released", "escalated"},
            },
            timeout_s=60,
        )
        # The reviewed item passed its deadline settled: still exactly one release.
        time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 1.0)
        again = _releases(client, {held.request_id, reviewed.request_id}, timeout_s=10)

    for rid in (breaching.request_id, held.request_id):
        mine = [e for e in events if e.request_id == rid]
        breach = next(e for e in mine if e.type == "sla_breached")
        escalated = next(e for e in mine if e.type == "escalated")
        assert breach.at >= deadline, "breached before its deadline"
        assert breach.late_ms is not None and 0 <= breach.late_ms < ON_TIME_MS
        assert (escalated.from_tier, escalated.to_tier, escalated.reason) == (
            "reviewer",
            "lead",
            "sla_breach",
        )
        assert escalated.state.breaches == 1 and escalated.state.version == 2
        assert rid in dict(queue.breached())

    [fallback] = releases[held.request_id]
    assert fallback.released_at >= deadline
    assert (fallback.outcome, fallback.by, fallback.deliver) == (
        "fallback_answer",
        "sla_fallback",
        True,
    )
    assert fallback.answer == "We are double-checking this answer."
    [corrected] = releases[reviewed.request_id]
    assert (corrected.outcome, corrected.answer, corrected.by) == ("corrected", "72", "review")
    assert {rid: len(v) for rid, v in again.items()} == {
        held.request_id: 1,
        reviewed.request_id: 1,
    }
    assert queue.count_breached() >= 2
