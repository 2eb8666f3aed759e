"""Helpers shared by the review-domain tests."""

from __future__ import annotations

from typing import Any, cast

from vigil.reviewers.outbox import OutboxEntry
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewDecision, ReviewEvent, ReviewItem


def decision(
    item: ReviewItem | str, kind: str = "approve", reviewer: str = "alice", **extra: Any
) -> ReviewDecision:
    rid = item if isinstance(item, str) else item.request_id
    fields: dict[str, Any] = {
        "request_id": rid,
        "decision": kind,
        "reviewer": reviewer,
        "model_name": "replay-reasoner",
        "model_version": "175b_verification",
    }
    if kind == "correct":
        fields["corrected_answer"] = "72"
        fields["first_wrong_step"] = 2
    if kind == "escalate":
        fields["reason"] = "not sure about step 3"
    if kind == "comment":
        fields["comment"] = "looks odd"
    fields.update(extra)
    return ReviewDecision(**fields)


def events(queue: ReviewQueue, request_id: str) -> list[str]:
    return [e.type for e in queue.audit(request_id)]


def outbox(queue: ReviewQueue, topic: str | None = None) -> list[OutboxEntry]:
    """Everything in the outbox (read raw, without a consumer group), oldest first."""
    rows = cast("list[tuple[bytes, dict[bytes, bytes]]]", queue.client.xrange(queue.keys.outbox))
    out = [
        OutboxEntry(
            entry_id=eid.decode(),
            topic=f[b"topic"].decode(),
            key=f[b"key"].decode(),
            value=f[b"value"],
            dedupe=f[b"dedupe"].decode(),
        )
        for eid, f in rows
    ]
    return [e for e in out if topic is None or e.topic == topic]


def outbox_events(queue: ReviewQueue) -> list[ReviewEvent]:
    return [ReviewEvent.from_json(e.value) for e in outbox(queue, "review.events")]
