from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from vigil.inference.exceptions import InferenceError, ReplayDataError, UnknownQuestion
from vigil.inference.replay_data import ReplayBook
from vigil.inference.replay_model import (
    ERROR_OUTPUT,
    VARIANT_VERSIONS,
    count_tokens,
    make_infer_func,
    make_trtllm_infer_func,
    truncate_tokens,
)
from vigil.settings import DEFAULT_GSM8K, VARIANTS

ROW: dict[str, Any] = {
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


def test_vllm_token_counts_are_per_response_and_sum_to_the_output(book: ReplayBook) -> None:
    infer = make_infer_func(book, "175b_verification")
    q = ROW["question"].encode()
    true = {"exclude_input_in_output": True}
    streamed = list(
        infer(
            [
                Req(
                    text_input=q,
                    stream=True,
                    return_num_input_tokens=True,
                    return_num_output_tokens=True,
                    **true,
                )
            ]
        )
    )
    text = "".join(r[0]["text_output"][0].decode() for r in streamed)
    assert text == "sol 175b_verification\nA: 0"
    assert len(streamed) == 2  # two lines, streamed as deltas
    assert sum(int(r[0]["num_output_tokens"][0]) for r in streamed) == count_tokens(text) == 5
    assert {int(r[0]["num_input_tokens"][0]) for r in streamed} == {count_tokens(ROW["question"])}
    # Not asked for: not sent (as vLLM).
    plain = list(infer([Req(text_input=q, **true)]))
    assert set(plain[0][0]) == {"text_output"}


def test_max_tokens_cuts_the_generation() -> None:
    assert truncate_tokens("a bb, c = 3", 3) == "a bb,"
    assert truncate_tokens("a b", 10) == "a b"
    assert count_tokens("16 - 3 = <<16-3=13>>13") == 14


class BatchReq:
    """A PyTriton request of a batched model: every tensor is [batch, 1]."""

    def __init__(self, outputs: list[str] | None = None, **data: np.ndarray) -> None:
        self.data = data
        self.parameters: dict[str, object] = {}
        self.requested_output_names = outputs

    def __getitem__(self, k: str) -> np.ndarray:
        return self.data[k]


def test_trtllm_infer_func_follows_the_ensemble_contract(book: ReplayBook) -> None:
    infer = make_trtllm_infer_func(book, "175b_verification")
    q = ROW["question"].encode()
    two = BatchReq(
        text_input=np.array([[q], [q]], dtype=object),
        max_tokens=np.array([[512], [2]], dtype=np.int32),
        seed=np.array([[0], [3]], dtype=np.uint64),
        exclude_input_in_output=np.array([[True], [True]]),
    )
    echoed = BatchReq(
        text_input=np.array([[q]], dtype=object), max_tokens=np.array([[512]], dtype=np.int32)
    )
    out = infer([two, echoed])  # two client requests in one dynamic batch
    assert out[0]["text_output"].shape == (2, 1)
    assert out[0]["text_output"][0, 0].decode() == "sol 175b_verification\nA: 0"
    assert out[0]["text_output"][1, 0].decode() == "sol 6b_finetuning"  # seed 3, 2 tokens
    assert out[1]["text_output"][0, 0].decode().startswith(ROW["question"])
    with pytest.raises(InferenceError, match="max_tokens"):
        infer([BatchReq(text_input=np.array([[q]], dtype=object))])
    streaming = BatchReq(
        text_input=np.array([[q]], dtype=object),
        max_tokens=np.array([[5]], dtype=np.int32),
        stream=np.array([[True]]),
    )
    with pytest.raises(InferenceError, match="decoupled"):
        infer([streaming])


UNKNOWN = "the replay reasoner has no recorded answer for this prompt"


def one(prompt: bytes, reports: bool = True, **data: np.ndarray) -> BatchReq:
    """One client request of the TensorRT-LLM adapter ([1, 1] tensors)."""
    tensors = {"max_tokens": np.array([[512]], dtype=np.int32), **data}
    outputs = ["text_output", ERROR_OUTPUT] if reports else ["text_output"]
    return BatchReq(outputs, text_input=np.array([[prompt]], dtype=object), **tensors)


def test_a_failed_request_fails_alone_in_its_dynamic_batch(book: ReplayBook) -> None:
    infer = make_trtllm_infer_func(book, "175b_verification")
    q = ROW["question"].encode()
    excluded = np.array([[True]])
    batch = [
        one(q, exclude_input_in_output=excluded),
        one(b"What is love?"),
        one(q, stream=np.array([[True]]), exclude_input_in_output=excluded),
        BatchReq(["text_output", ERROR_OUTPUT], text_input=np.array([[q]], dtype=object)),
        one(q, seed=np.array([[3]], dtype=np.uint64), exclude_input_in_output=excluded),
    ]
    out = infer(batch)
    texts = [r["text_output"][0, 0].decode() for r in out]
    errors = [r[ERROR_OUTPUT][0, 0].decode() for r in out]
    assert texts[0] == "sol 175b_verification\nA: 0" and errors[0] == ""
    assert texts[4] == "sol 6b_finetuning\nA: 3" and errors[4] == ""
    assert texts[1:4] == ["", "", ""]
    assert errors[1] == f"UnknownQuestion: {UNKNOWN}"
    assert "decoupled" in errors[2] and "max_tokens is required" in errors[3]
    assert all(r[ERROR_OUTPUT].shape == r["text_output"].shape == (1, 1) for r in out)


def test_a_client_that_does_not_ask_for_the_error_output_gets_the_call_error(
    book: ReplayBook,
) -> None:
    # PyTriton drops outputs a request did not ask for: an answer-less success would be silent.
    infer = make_trtllm_infer_func(book, "175b_verification")
    q = ROW["question"].encode()
    answered = infer([one(q, reports=False)])
    assert set(answered[0]) == {"text_output"}
    with pytest.raises(UnknownQuestion):
        infer([one(q), one(b"What is love?", reports=False)])
    unnamed = one(b"What is love?")
    unnamed.requested_output_names = None  # PyTriton without its tensor store passes no names
    with pytest.raises(UnknownQuestion):
        infer([unnamed])


@pytest.mark.skipif(not DEFAULT_GSM8K.exists(), reason="shared GSM8K data not present")
def test_the_real_file_loads() -> None:
    book = ReplayBook.load(DEFAULT_GSM8K)
    assert len(book) > 1000


def test_counterfactual_prompts_are_answered_like_their_question(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    other = {**ROW, "question": "Ann has 3 pears and buys 2 more. How many?"}
    p.write_bytes(orjson.dumps(ROW) + b"\n" + orjson.dumps(other) + b"\n")
    book = ReplayBook.load(p)
    swapped = "Maria has 3 apples and buys 2 more. How many?"
    assert book.answer(swapped, "175b_verification")[0] == "175b_verification"
    biased = book.with_counterfactual_variant("6b_finetuning")
    assert biased.answer(swapped, "175b_verification")[0] == "6b_finetuning"
    # The recorded question itself is still served as configured.
    assert biased.answer(ROW["question"], "175b_verification")[0] == "175b_verification"
    with pytest.raises(UnknownQuestion):  # other numbers: another question
        book.answer("Tom has 4 apples and buys 2 more. How many?", "175b_verification")
    with pytest.raises(UnknownQuestion):  # too many words changed
        book.answer("Maria owns 3 plums and sells 2 more. How much?", "175b_verification")
