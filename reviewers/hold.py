"""Hold-and-release: what a held request's product receives, on ``review.releases``.

A product that sent ``hold_for_review`` shows nothing until exactly one ``ReviewRelease``
for its request arrives: when a review settles the item (approved: the answer as is;
corrected: the corrected answer; rejected: nothing), or when the SLA deadline passes first
and the fallback policy fires (``release_as_is``, ``release_fallback`` with a fixed text, or
``block``). The Lua scripts send it; these builders prepare its JSON (less ``release_id`` and
``released_at``, which the script adds) while the item is at hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from vigil.reviewers.base import QueueBase
from vigil.reviewers.correction import solution_text
from vigil.reviewers.policy import ItemPlan
from vigil_client.contracts import ReleaseOutcome, ReviewDecision, ReviewItem, ReviewRelease

_SET_BY_SCRIPT = {"release_id", "released_at"}
_PLACEHOLDER_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _draft(item: ReviewItem, **fields: Any) -> dict[str, Any]:
    # Validated as a whole ReviewRelease here, so a bad field fails now, not in a consumer.
    release = ReviewRelease(
        release_id="-",
        request_id=item.request_id,
        released_at=_PLACEHOLDER_TIME,
        model_name=item.model_name,
        model_version=item.model_version,
        product=item.product,
        tenant=item.tenant,
        metadata=item.metadata,
        **fields,
    )
    return release.model_dump(mode="json", exclude=_SET_BY_SCRIPT)


def fallback_draft(item: ReviewItem, plan: ItemPlan) -> dict[str, Any]:
    """The release the SLA clock sends if no review settles the held item in time."""
    if plan.hold_fallback == "release_as_is":
        return _draft(
            item,
            outcome="fallback_as_is",
            deliver=True,
            answer=item.final_answer,
            output=item.output,
            by="sla_fallback",
        )
    if plan.hold_fallback == "release_fallback":
        return _draft(
            item,
            outcome="fallback_answer",
            deliver=True,
            answer=plan.fallback_answer,
            output=plan.fallback_answer,
            by="sla_fallback",
        )
    return _draft(item, outcome="fallback_block", deliver=False, by="sla_fallback")


def decision_release(item: ReviewItem, decision: ReviewDecision) -> tuple[str, bytes]:
    """(outcome, release JSON) for a verdict that would settle the held item."""
    common = {"by": "review", "decision_id": decision.decision_id, "reviewer": decision.reviewer}
    outcome: ReleaseOutcome
    if decision.decision == "approve":
        outcome = "approved"
        draft = _draft(
            item,
            outcome=outcome,
            deliver=True,
            answer=item.final_answer,
            output=item.output,
            **common,
        )
    elif decision.decision == "correct":
        outcome = "corrected"
        answer = (
            decision.corrected_answer
            if decision.corrected_answer is not None
            else item.final_answer
        )
        steps = decision.corrected_steps if decision.corrected_steps is not None else item.steps
        draft = _draft(
            item,
            outcome=outcome,
            deliver=True,
            answer=answer,
            output=solution_text(steps, answer),
            **common,
        )
    else:
        outcome = "rejected"
        draft = _draft(item, outcome=outcome, deliver=False, **common)
    return outcome, orjson.dumps(draft)


class HoldMixin(QueueBase):
    def release(self, request_id: str) -> ReviewRelease | None:
        """The release sent for a held item, if any yet."""
        raw = self.client.hget(self.keys.item(request_id), "release")
        return None if not raw else ReviewRelease.from_json(raw)
