"""Decisions on real Redis: the five kinds, corrections with steps, escalation through the
tiers, several reviewers per item and adjudication of disagreements."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.reviewers.helpers import decision, events, outbox
from vigil.reviewers.exceptions import InvalidDecision, ItemNotFound, StaleClaim
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewItem

MakeItem = Callable[..., ReviewItem]
FIXED = ["April: 48", "May: 48 / 2 = 24", "Total: 48 + 24 = 72"]


def test_reject_settles_and_comment_only_adds_a_note(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    note = review_queue.decide(decision("x", "comment", reviewer="bob"))
    assert note.final is False and review_queue.state("x") == "pending"
    rejected = review_queue.decide(decision("x", "reject", reason="made-up numbers"))
    assert rejected.final and rejected.reason == "made-up numbers"
    assert rejected.corrected_answer is None and rejected.diff is None
    # Comments are welcome after the item settled too; verdicts are not.
    review_queue.decide(decision("x", "comment", reviewer="carol", comment="agreed"))
    assert [d.decision for d in review_queue.decisions("x")] == ["comment", "reject", "comment"]
    assert events(review_queue, "x") == ["queued", "commented", "decided", "commented"]
    assert len(outbox(review_queue, "review.decisions")) == 3
    with pytest.raises(InvalidDecision, match="already decided"):
        review_queue.decide(decision("x", "approve", reviewer="dave"))


def test_a_correction_of_the_steps_keeps_original_edit_and_diff(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    item = make_item("x")
    review_queue.enqueue(item)
    stored = review_queue.decide(
        decision("x", "correct", corrected_steps=FIXED, corrected_answer="72", first_wrong_step=2)
    )
    assert stored.corrected_steps == FIXED and stored.corrected_answer == "72"
    assert stored.original_steps == item.steps and stored.original_answer == "70"
    assert stored.first_wrong_step == 2
    assert stored.diff is not None
    assert "-Total: 48 + 24 = 70" in stored.diff and "+Total: 48 + 24 = 72" in stored.diff
    assert "-The answer is 70" in stored.diff


def test_decisions_that_make_no_sense_are_refused(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    cases = [
        (decision("x", "correct", corrected_answer=None), "needs the corrected final answer"),
        (decision("x", "correct", corrected_answer=" 70 "), "changes nothing"),
        (decision("x", "correct", corrected_steps=[]), "non-empty list"),
        (decision("x", "approve", first_wrong_step=9), "step 10 does not exist"),
        (decision("x", "escalate", reason="  "), "needs a reason"),
        (decision("x", "comment", comment=""), "needs its text"),
    ]
    for bad, message in cases:
        with pytest.raises(InvalidDecision, match=message):
            review_queue.decide(bad)
    assert review_queue.state("x") == "pending" and events(review_queue, "x") == ["queued"]


def test_forged_original_fields_are_overwritten(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    stored = review_queue.decide(
        decision("x", "approve", original_answer="999", diff="lies", final=False, tier="ml_team")
    )
    assert stored.original_answer is None and stored.diff is None
    assert stored.final is True and stored.tier == "reviewer"


def test_escalation_climbs_the_tiers_with_a_reason(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x"))
    claim = review_queue.claim_next("alice")
    assert claim is not None
    up = review_queue.decide(
        decision("x", "escalate", reviewer="alice", claim_id=claim.claim_id, reason="unsure")
    )
    assert (up.escalate_to, up.tier, up.final) == ("lead", "reviewer", False)
    state = review_queue.review_state("x")
    assert state is not None
    assert (state.tier, state.version, state.required, state.done) == ("lead", 2, 1, 0)
    escalated = review_queue.audit("x")[-1]
    assert escalated.type == "escalated" and escalated.reason == "unsure"
    assert (escalated.from_tier, escalated.to_tier) == ("reviewer", "lead")
    # The old claim is void: the item is at a new version.
    with pytest.raises(StaleClaim):
        review_queue.decide(decision("x", reviewer="alice", claim_id=claim.claim_id))
    lead = review_queue.claim_next("lead1", tiers=["lead"])
    assert lead is not None
    review_queue.decide(
        decision("x", "escalate", reviewer="lead1", claim_id=lead.claim_id, reason="model bug?")
    )
    assert review_queue.review_state("x").tier == "ml_team"  # type: ignore[union-attr]
    with pytest.raises(InvalidDecision, match="top tier"):
        review_queue.decide(decision("x", "escalate", reviewer="ml1"))
    final = review_queue.decide(decision("x", "correct", reviewer="ml1"), tiers=["ml_team"])
    assert (final.tier, final.item_version, final.final) == ("ml_team", 3, True)


def test_escalation_straight_to_the_ml_team(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    review_queue.enqueue(make_item("x"))
    review_queue.decide(decision("x", "escalate", escalate_to="ml_team"))
    assert review_queue.review_state("x").tier == "ml_team"  # type: ignore[union-attr]
    review_queue.enqueue(make_item("y"))
    review_queue.decide(decision("y", "escalate", reviewer="l"), tiers=None)
    with pytest.raises(InvalidDecision, match="must be a higher tier"):
        review_queue.decide(decision("y", "escalate", reviewer="l2", escalate_to="lead"))


def test_two_agreeing_reviewers_settle_the_item(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x", reviews_required=2))
    first = review_queue.decide(decision("x", "correct", reviewer="a", corrected_answer="$72.00"))
    assert first.final is False
    second = review_queue.decide(decision("x", "correct", reviewer="b", corrected_answer="72"))
    assert second.final is True and review_queue.decision("x") == second
    rating = review_queue.ratings()["x"]
    assert rating["labels"] == {"a": "correct", "b": "correct"} and rating["agreed"] is True
    assert rating["checks"] == ["arithmetic"]


def test_a_disagreement_goes_to_a_lead_for_adjudication(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x", reviews_required=2))
    review_queue.decide(decision("x", "approve", reviewer="a"))
    split = review_queue.decide(decision("x", "correct", reviewer="b"))
    assert split.final is False
    state = review_queue.review_state("x")
    assert state is not None and (state.tier, state.version, state.required) == ("lead", 2, 1)
    escalated = review_queue.audit("x")[-1]
    assert escalated.type == "escalated" and escalated.reason == "reviewers disagree"
    assert review_queue.ratings()["x"]["agreed"] is False
    lead = review_queue.claim_next("lead1", tiers=["lead"])
    assert lead is not None and lead.request_id == "x"
    verdict = review_queue.decide(
        decision("x", "correct", reviewer="lead1", claim_id=lead.claim_id)
    )
    assert verdict.final and verdict.tier == "lead"


def test_different_corrected_answers_are_a_disagreement(
    review_queue: ReviewQueue, make_item: MakeItem
) -> None:
    review_queue.enqueue(make_item("x", reviews_required=2))
    review_queue.decide(decision("x", "correct", reviewer="a", corrected_answer="72"))
    review_queue.decide(decision("x", "correct", reviewer="b", corrected_answer="74"))
    assert review_queue.review_state("x").tier == "lead"  # type: ignore[union-attr]


def test_erased_and_unknown_items(review_queue: ReviewQueue, make_item: MakeItem) -> None:
    review_queue.enqueue(make_item("x", metadata={"user_id": "u-9"}))
    review_queue.erase_subject("u-9")
    with pytest.raises(ItemNotFound, match="erased"):
        review_queue.decide(decision("x"))
