from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from inference.exceptions import InferenceError, ReplayDataError, UnknownQuestion
from inference.replay_data import ReplayBook
from inference.replay_model import VARIANT_VERSIONS, make_infer_func
from vigil.settings import DEFAULT_GSM8K, VARIANTS

ROW = {
    "question": "Tom has 3 apples and buys 2 more. How many?",
    "ground_truth": "3+2=<<3+2=5>>5\nA: 5",
    **{
        v: {"is_correct": i % 2 == 0, "solution": f"sol {v}\nA: {i}"}
        for i, v in enumerate(VARIANTS)
    },
}


@pytest.fixture()
def book(tmp_path: Path) -> ReplayBook:
    p = tmp_path / "s.jsonl"
    p.write_bytes(orjson.dumps(ROW) + b"\n")
    return ReplayBook.load(p)


def test_lookup_ignores_whitespace_and_case(book: ReplayBook) -> None:
    v, sol = book.answer("  tom has 3 apples and   buys 2 more. HOW many?", "6b_finetuning")
    assert v == "6b_finetuning" and sol.startswith("sol 6b_finetuning")


def test_seeds_map_to_distinct_recorded_variants(book: ReplayBook) -> None:
    used = {book.answer(ROW["question"], "175b_verification", seed)[0] for seed in range(4)}
    assert used == set(VARIANTS)
    assert book.answer(ROW["question"], "175b_verification", 0)[0] == "175b_verification"


def test_unknown_question_and_bad_files(book: ReplayBook, tmp_path: Path) -> None:
    with pytest.raises(UnknownQuestion):
        book.answer("What is love?", "175b_verification")
    with pytest.raises(ReplayDataError):
        ReplayBook.load(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(ReplayDataError, match="no recorded variant"):
        ReplayBook.load(bad)


class Req:
    def __init__(self, **data: object) -> None:
        self.data = {
            k: np.array([v], dtype=object if isinstance(v, bytes) else bool)
            for k, v in data.items()
        }
        self.parameters: dict[str, object] = {}

    def __getitem__(self, k: str) -> np.ndarray:
        return self.data[k]


def test_infer_func_follows_the_vllm_contract(book: ReplayBook) -> None:
    infer = make_infer_func(book, "175b_verification")
    q = ROW["question"].encode()
    echoed = list(infer([Req(text_input=q)]))
    assert echoed[0][0]["text_output"][0].decode().startswith(ROW["question"])
    plain = list(
        infer([Req(text_input=q, exclude_input_in_output=True, sampling_parameters=b'{"seed": 2}')])
    )
    assert plain[0][0]["text_output"][0].decode().startswith("sol 6b_verification")
    with pytest.raises(InferenceError, match="exclude_input_in_output"):
        list(infer([Req(text_input=q, stream=True)]))
    with pytest.raises(UnknownQuestion):
        list(infer([Req(text_input=b"unknown")]))
    assert VARIANT_VERSIONS["175b_verification"] != VARIANT_VERSIONS["6b_finetuning"]


@pytest.mark.skipif(not DEFAULT_GSM8K.exists(), reason="shared GSM8K data not present")
def test_the_real_file_loads() -> None:
    book = ReplayBook.load(DEFAULT_GSM8K)
    assert len(book) > 1000
