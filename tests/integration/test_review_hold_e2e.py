"""Hold-and-release end to end on the shared stack: a product sends a held request through
the SDK; it goes through the gateway, Triton and screening into the review queue; a
reviewer claims and corrects it; the product receives the corrected answer as its release
on ``review.releases`` (and nothing before)."""

from __future__ import annotations

import time
import uuid

from vigil.inference.replay_data import ReplayBook
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil.supervisor import Supervisor
from vigil_client.client import VigilClient
from vigil_client.contracts import ReviewDecision, ReviewRelease


def _release_of(client: VigilClient, request_id: str, timeout_s: float) -> list[ReviewRelease]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = [
            r
            for r in client.releases(from_beginning=True, timeout_ms=1000)
            if r.request_id == request_id
        ]
        if got:
            return got
    return []


def test_a_held_request_is_released_only_after_review(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    s = stack_settings
    product = f"held-{uuid.uuid4().hex[:8]}"
    question = ReplayBook.load(s.gsm8k_path).questions()[11]
    queue = ReviewQueue.connect(s.redis_connection)
    with VigilClient(s.kafka_bootstrap, product=product) as client:
        rid = client.submit(question, hold_for_review=True, metadata={"locale": "en-GB"}, wait=True)
        deadline = time.monotonic() + 180
        while queue.get(rid) is None:
            assert time.monotonic() < deadline, "the held request never reached the review queue"
            time.sleep(0.2)
        item = queue.get(rid)
        assert item is not None and item.hold_for_review and item.product == product
        assert queue.release(rid) is None  # held: nothing released before the review
        assert [r for r in client.releases(from_beginning=True, timeout_ms=1000)] == []

        claim = queue.claim(rid, "reviewer")
        stored = queue.decide(
            ReviewDecision(
                request_id=rid,
                decision="correct",
                reviewer="reviewer",
                claim_id=claim.claim_id,
                corrected_answer="42",
                model_name=item.model_name,
                model_version=item.model_version,
                product=item.product,
                metadata=item.metadata,
            )
        )
        [release] = _release_of(client, rid, timeout_s=60)
    assert (release.outcome, release.deliver, release.answer, release.by) == (
        "corrected",
        True,
        "42",
        "review",
    )
    assert release.decision_id == stored.decision_id and release.product == product
    assert release.output is not None and release.output.endswith("A: 42")
    assert release.metadata == {"locale": "en-GB"}
    assert [e.type for e in queue.audit(rid)] == ["queued", "claimed", "decided", "released"]
