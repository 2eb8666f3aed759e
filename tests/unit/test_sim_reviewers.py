"""The simulated reviewers' judgement and pace (pure), and the replay's labels they use."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import orjson
import pytest

from tests.redis_fixtures import review_item
from vigil.inference.replay_data import ReplayBook
from vigil.reviewers.simulated import (
    ACCURACY,
    BASE_S,
    HINT_ACCURACY,
    PER_STEP_S,
    SIM_COMMENT,
    SimulatedReviewer,
)
from vigil.streams.demo_traffic import swap_pronouns
from vigil_client.contracts import CheckResult

Q = "Tom has 3 apples and his sister buys 2 more for the party. How many apples are there now?"
RIGHT = "Tom has 3 apples. His sister buys 2 more. 3 + 2 = 5. The answer is \\boxed{5}"
WRONG = "Tom has 3 apples and gets 3 more. 3 + 3 = 6. So 6."


def _reviewer(seed: int = 1, speed: float = 1.0) -> SimulatedReviewer:
    return SimulatedReviewer("sim-reviewer-1", random.Random(seed), speed)


def _approved(r: SimulatedReviewer, correct: bool | None, flagged: bool, n: int = 2000) -> float:
    checks = [CheckResult(check="arithmetic", score=0.9, flagged=flagged)]
    item = review_item(checks=checks)
    return sum(r.verdict(item, correct).decision == "approve" for _ in range(n)) / n


def test_a_known_label_is_followed_with_the_reviewers_accuracy() -> None:
    r = _reviewer()
    assert abs(_approved(r, True, flagged=True) - ACCURACY) < 0.03
    assert abs(_approved(r, False, flagged=False) - (1 - ACCURACY)) < 0.03


def test_without_a_label_the_flags_are_a_weaker_hint() -> None:
    r = _reviewer(2)
    assert abs(_approved(r, None, flagged=True) - (1 - HINT_ACCURACY)) < 0.03
    assert abs(_approved(r, None, flagged=False) - HINT_ACCURACY) < 0.03


def test_a_decision_is_labelled_simulated_and_complete() -> None:
    item = review_item()
    d = _reviewer().verdict(item, False, claim_id="c1")
    assert d.reviewer == "sim-reviewer-1" and d.comment == SIM_COMMENT and d.claim_id == "c1"
    assert (d.model_name, d.model_version, d.product) == (
        item.model_name,
        item.model_version,
        item.product,
    )
    if d.decision == "reject":
        assert d.reason


def test_the_pace_is_human_and_scales_with_the_speed() -> None:
    item = review_item()  # four steps
    mean = BASE_S + PER_STEP_S * len(item.steps)
    r = _reviewer(3)
    times = [r.think_s(item) for _ in range(2000)]
    assert abs(statistics.median(times) - mean) < 0.1 * mean and min(times) > 3
    fast = SimulatedReviewer("sim-reviewer-2", random.Random(3), speed=10)
    assert fast.think_s(item) == pytest.approx(_reviewer(3).think_s(item) / 10)


def test_the_replay_labels_a_recorded_output_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "re2" / "model_solutions.jsonl"
    path.parent.mkdir()
    row = {
        "question": Q,
        "strong": {"is_correct": True, "solution": RIGHT},
        "weak": {"is_correct": False, "solution": WRONG},
    }
    path.write_bytes(orjson.dumps(row) + b"\n")
    book = ReplayBook.load(path)
    assert book.label(Q, RIGHT) is True and book.label(Q, WRONG + "\n") is False
    # The pronoun-swapped segment's question is the same question; a cut answer still counts.
    assert book.label(swap_pronouns(Q), WRONG) is False
    assert book.label(Q, RIGHT[:45]) is True
    assert book.label(Q, "something else entirely") is None
    assert book.label("What is the capital of France?", RIGHT) is None
    # The demo's publisher sends a swapped question only when the replay knows it.
    assert book.knows(Q) and book.knows(swap_pronouns(Q))
    assert not book.knows("What is the capital of France?")
