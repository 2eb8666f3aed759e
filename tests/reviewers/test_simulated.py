"""Simulated reviewers on the real queue (real Redis): they claim, take their time, decide
under their claims, and fill in what the Team and agreement pages read."""

from __future__ import annotations

from collections.abc import Callable

from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.simulated import SIM_COMMENT, SimulatedTeam
from vigil_client.contracts import ReviewItem


def test_a_simulated_team_decides_the_queue_under_claims(
    review_queue: ReviewQueue, make_item: Callable[..., ReviewItem]
) -> None:
    items = [make_item(f"sim-{i}", reviews_required=2 if i < 3 else 1) for i in range(8)]
    review_queue.enqueue_many(items)
    now = [1000.0]
    # Correct when the index is even (a stand-in for the replay's recorded labels).
    team = SimulatedTeam(
        review_queue,
        lambda item: int(item.request_id.split("-")[1]) % 2 == 0,
        count=3,
        speed=1.0,
        seed=7,
        clock=lambda: now[0],
    )
    steps = 0
    while review_queue.count_pending() and steps < 500:
        now[0] = max(now[0], team.step())  # the clock jumps to whoever is due next
        steps += 1
    assert review_queue.count_pending() == 0, steps
    # Human pace: three reviewers, 8 items with 11 verdicts, ~30 s each.
    assert now[0] - 1000.0 > 60
    decisions = [d for item in items for d in review_queue.decisions(item.request_id)]
    assert len(decisions) == 11
    assert {d.reviewer for d in decisions} <= {"sim-reviewer-1", "sim-reviewer-2", "sim-reviewer-3"}
    assert len({d.reviewer for d in decisions}) >= 2
    assert all(d.comment == SIM_COMMENT and d.claim_id for d in decisions)
    assert sum(team.decided.values()) == 11
    # The two-review items were decided by two different reviewers: agreement has ratings.
    for item in items[:3]:
        assert len({d.reviewer for d in review_queue.decisions(item.request_id)}) == 2
    ratings = review_queue.ratings()
    assert set(ratings) == {"sim-0", "sim-1", "sim-2"}
    assert all(len(r["labels"]) == 2 for r in ratings.values())  # type: ignore[arg-type]
