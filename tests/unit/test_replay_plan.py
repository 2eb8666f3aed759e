"""What the embedded Triton serves, from the VIGIL_REPLAY_* settings (no server needed)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from vigil.inference.exceptions import ReplayDataError
from vigil.inference.replay_plan import (
    describe,
    load_replay_book,
    replay_model_names,
    replay_plan,
)
from vigil.inference.runner import routes_from_settings
from vigil.settings import DEFAULT_GSM8K, DEFAULT_REPLAY_FILES, VigilSettings, load_settings

Q = "Tom has 3 apples and buys 2 more. How many?"


def _file(path: Path, **variants: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"question": Q, **{v: {"is_correct": True, "solution": s} for v, s in variants.items()}}
    path.write_bytes(orjson.dumps(row) + b"\n")
    return path


@pytest.fixture()
def settings(tmp_path: Path) -> VigilSettings:
    files = [
        _file(tmp_path / "re2" / "model_solutions.jsonl", weak="So 6.", strong="\\boxed{5}"),
        _file(tmp_path / "gpt3" / "model_solutions.jsonl", **{"175b": "3+2=5\nA: 5"}),
    ]
    return load_settings(replay_files=files, replay_variant="re2:strong")


def test_the_main_models_serve_the_variant_labelled_with_its_own_version(
    settings: VigilSettings,
) -> None:
    plan = replay_plan(settings, load_replay_book(settings))
    assert [(m.model_name, m.version, m.contract, m.replayed.variant) for m in plan] == [
        ("replay-reasoner", 2, "vllm", "re2:strong"),
        ("replay-trtllm", 2, "trtllm", "re2:strong"),
    ]
    assert plan[0].replayed.answer(Q, seed=1) == "\\boxed{5}"  # samples: the same output
    assert "replay-reasoner v2 (vllm) = re2:strong" in describe(plan)


def test_a_pinned_label_hides_a_swap_and_further_models_are_routed(
    settings: VigilSettings,
) -> None:
    s = settings.replace(
        replay_variant="weak",
        replay_version=2,
        replay_samples="cross-model",
        replay_unbatched_model="replay-unbatched",
        replay_models={"gpt3-175b": "175b", "strong-as-v7": "re2:strong@7"},
    )
    plan = {m.model_name: m for m in replay_plan(s, load_replay_book(s))}
    assert (plan["replay-reasoner"].version, plan["replay-reasoner"].replayed.variant) == (
        2,
        "re2:weak",
    )
    assert plan["replay-unbatched"].contract == "trtllm-unbatched"
    assert (plan["gpt3-175b"].version, plan["gpt3-175b"].replayed.variant) == (1, "gpt3:175b")
    assert plan["strong-as-v7"].version == 7
    # cross-model: seed 1 is the file's other variant, labelled as the served one.
    assert plan["replay-reasoner"].replayed.answer(Q, seed=1) == "\\boxed{5}"
    assert replay_model_names(s) == list(plan)
    routes = routes_from_settings(s).by_name
    assert routes["gpt3-175b"].adapter.name == "vllm" and "strong-as-v7" in routes


def test_unknown_variants_and_bad_labels_fail_at_start(settings: VigilSettings) -> None:
    book = load_replay_book(settings)
    with pytest.raises(ReplayDataError, match="unknown replay variant 'gpt-5'"):
        replay_plan(settings.replace(replay_variant="gpt-5"), book)
    with pytest.raises(ReplayDataError, match="unknown replay variant"):
        replay_plan(settings.replace(replay_counterfactual_variant="nope"), book)
    with pytest.raises(ReplayDataError, match="after '@'"):
        replay_plan(settings.replace(replay_models={"m": "weak@x"}), book)
    with pytest.raises(ReplayDataError, match="one name"):
        replay_plan(settings.replace(replay_models={"replay-trtllm": "weak"}), book)


def test_the_replay_settings_travel_to_child_processes(
    settings: VigilSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings.replace(replay_models={"m": "re2:weak@3"}, replay_version=4)
    for name, value in s.as_env().items():
        if name.startswith("VIGIL_REPLAY_"):
            monkeypatch.setenv(name, value)
    child = load_settings()  # what `vigil triton` reads
    assert child.replay_files == s.replay_files and child.replay_models == s.replay_models
    assert (child.replay_variant, child.replay_version) == ("re2:strong", 4)


def test_the_default_serves_a_current_model_from_the_shared_files() -> None:
    s = load_settings()
    assert s.replay_paths == [*DEFAULT_REPLAY_FILES, DEFAULT_GSM8K]
    assert s.replay_variant == "re2_gsm8k:gpt-4o-mini_zs-cot" and s.replay_samples == "same"
