"""The demo story's pure parts: the silent swap, the pronoun-swapped segment, the plan."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from vigil.demo import BIAS_LOCALE, PRODUCTS, STARTUP_S, SWAP_AFTER_S, SWAP_VARIANT, demo_plan
from vigil.inference.replay_plan import load_replay_book, replay_plan
from vigil.settings import load_settings
from vigil.stack import demo_publishers
from vigil.streams.demo_traffic import swap_pronouns

Q = "Tom has 3 apples and his sister buys 2 more for the party. How many apples are there now?"


def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {
        "question": Q,
        "strong": {"is_correct": True, "solution": "\\boxed{5}"},
        "weak": {"is_correct": False, "solution": "So 6."},
    }
    path.write_bytes(orjson.dumps(row) + b"\n")
    return path


def test_the_swap_changes_the_answers_but_not_the_name_or_label(tmp_path: Path) -> None:
    now = time.time()
    s = load_settings(
        replay_files=[_file(tmp_path / "re2" / "model_solutions.jsonl")],
        replay_variant="strong",
        replay_version=3,
        replay_swap_variant="weak",
        replay_swap_at=now + 60,
    )
    main = replay_plan(s, load_replay_book(s))[0]
    assert (main.model_name, main.version) == ("replay-reasoner", 3)
    assert main.replayed.answer(Q) == "\\boxed{5}"
    assert main.replayed.current_variant(now + 61) == "re2:weak"
    past = s.replace(replay_swap_at=now - 1)
    again = replay_plan(past, load_replay_book(past))[0]
    assert (again.model_name, again.version) == ("replay-reasoner", 3)
    assert again.replayed.answer(Q) == "So 6."


def test_the_counterfactual_segment_is_answered_by_the_other_model(tmp_path: Path) -> None:
    s = load_settings(
        replay_files=[_file(tmp_path / "re2" / "model_solutions.jsonl")],
        replay_variant="strong",
        replay_counterfactual_variant="weak",
    )
    swapped = swap_pronouns(Q)
    assert swapped == Q.replace("his", "her")
    served = replay_plan(s, load_replay_book(s))[0].replayed
    assert served.answer(swapped) == "So 6." and served.answer(Q) == "\\boxed{5}"


def test_the_demo_plan_pins_the_label_and_scales_with_speed() -> None:
    base = load_settings()
    plan = demo_plan(base, speed=10, now=1000.0)
    s = plan.settings
    assert s.model_name == base.model_name and s.replay_version >= 1
    assert s.replay_swap_variant == SWAP_VARIANT == s.replay_counterfactual_variant
    assert s.replay_swap_at == pytest.approx(1000.0 + STARTUP_S + SWAP_AFTER_S / 10)
    assert s.monitor.reference == "baseline" and s.monitor.reference_rows <= 500
    # The reference fills within the first minute at speed 1.
    slow = demo_plan(base, speed=1, now=0.0)
    assert slow.settings.monitor.reference_rows / (slow.rate_per_product * len(PRODUCTS)) < 60
    assert "same name, same version label" in plan.banner(1000.0)
    specs = demo_publishers(s, plan.rate_per_product)
    assert specs[0].name == "demo" and len(specs) == len(PRODUCTS)
    assert all(BIAS_LOCALE in p.argv and "--product" in p.argv for p in specs)
    with pytest.raises(ValueError):
        demo_plan(base, speed=0)
