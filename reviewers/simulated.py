"""Simulated reviewers for the demo (``vigil up --demo --demo-reviewers N``): they claim items
through the queue's own API, take a human-like time over each, and decide with a plausible
accuracy, so the Team, Checks and agreement pages have something to show.

They are never people: their ids start with ``sim-reviewer-`` and every decision's comment
says it was simulated. What is right comes from ``label`` (the replay's recorded
``is_correct`` for the item's output, when the output is a recording); without a label, a
flagged check is taken as a sign of a wrong answer, with less confidence.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.demo import SIM_REVIEWER_PREFIX
from vigil.reviewers.claims import Claim
from vigil.reviewers.exceptions import ClaimRefused, InvalidDecision, ItemNotFound
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewDecision, ReviewItem

log = logging.getLogger(__name__)

SIM_COMMENT = "simulated reviewer (vigil up --demo-reviewers): not a person's judgement"
# Seconds a reviewer spends on an item at speed 1: a median of about half a minute, longer
# for longer solutions, with a lognormal spread (most quick, a few slow).
BASE_S = 20.0
PER_STEP_S = 2.0
SPREAD = 0.5
# Between items, and when the queue is empty.
PAUSE_S = 3.0
IDLE_S = 5.0
# How often the reviewer's answer matches the truth: with a recorded label, and when only
# the checks' flags hint at it.
ACCURACY = 0.9
HINT_ACCURACY = 0.7

Label = Callable[[ReviewItem], bool | None]


@dataclass
class SimulatedReviewer:
    """One simulated reviewer's judgement and pace (pure: no queue)."""

    reviewer_id: str
    rng: random.Random
    speed: float = 1.0
    accuracy: float = ACCURACY

    def verdict(
        self, item: ReviewItem, correct: bool | None, claim_id: str | None = None
    ) -> ReviewDecision:
        """Approve or reject ``item``; ``correct`` is the truth when known."""
        if correct is None:
            truth, accuracy = not any(c.flagged for c in item.checks), HINT_ACCURACY
        else:
            truth, accuracy = correct, self.accuracy
        says_correct = truth if self.rng.random() < accuracy else not truth
        return ReviewDecision(
            request_id=item.request_id,
            decision="approve" if says_correct else "reject",
            reviewer=self.reviewer_id,
            reason=None if says_correct else "the final answer looks wrong",
            comment=SIM_COMMENT,
            model_name=item.model_name,
            model_version=item.model_version,
            product=item.product,
            tenant=item.tenant,
            metadata=item.metadata,
            claim_id=claim_id,
        )

    def think_s(self, item: ReviewItem) -> float:
        """How long this item takes (seconds, scaled by the speed)."""
        mean = BASE_S + PER_STEP_S * len(item.steps)
        return mean * math.exp(self.rng.gauss(0.0, SPREAD)) / self.speed

    def pause_s(self, idle: bool) -> float:
        return (IDLE_S if idle else PAUSE_S) * self.rng.uniform(0.5, 1.5) / self.speed


@dataclass
class _Seat:
    reviewer: SimulatedReviewer
    due: float = 0.0
    claim: Claim | None = None


@dataclass
class SimulatedTeam:
    """``count`` simulated reviewers working one queue, interleaved in one thread: each is
    due at its own time (claim the next item, or decide the one it holds)."""

    queue: ReviewQueue
    label: Label
    count: int
    speed: float = 1.0
    seed: int = 0
    clock: Callable[[], float] = time.monotonic
    decided: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self._seats = [
            _Seat(
                SimulatedReviewer(
                    f"{SIM_REVIEWER_PREFIX}{i}", random.Random(rng.random()), self.speed
                )
            )
            for i in range(1, self.count + 1)
        ]

    def step(self) -> float:
        """Do what the next due reviewer does; returns when the next one is due (clock)."""
        seat = min(self._seats, key=lambda s: s.due)
        now = self.clock()
        if seat.due > now:
            return seat.due
        r = seat.reviewer
        if seat.claim is None:
            seat.claim = self.queue.claim_next(r.reviewer_id)
            item = None if seat.claim is None else self.queue.get(seat.claim.request_id)
            if seat.claim is not None and item is None:
                seat.claim = None
            seat.due = now + (r.pause_s(idle=True) if item is None else r.think_s(item))
            return min(s.due for s in self._seats)
        held, seat.claim = seat.claim, None
        seat.due = now + r.pause_s(idle=False)
        item = self.queue.get(held.request_id)
        if item is not None:
            decision = r.verdict(item, self.label(item), held.claim_id)
            try:
                self.queue.decide(decision, tiers=("reviewer",))
                self.decided[r.reviewer_id] = self.decided.get(r.reviewer_id, 0) + 1
            except (InvalidDecision, ItemNotFound, ClaimRefused) as exc:
                # Settled by someone else meanwhile, or the lease ran out: the next item.
                log.info("%s: %s", r.reviewer_id, exc)
        return min(s.due for s in self._seats)

    def run(self, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            due = self.step()
            time.sleep(min(1.0, max(0.0, due - self.clock())))
