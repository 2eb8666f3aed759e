from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from vigil.inference.exceptions import InferenceError, ReplayDataError, UnknownQuestion
from vigil.inference.replay_data import UNKNOWN_HINT, ReplayBook
from vigil.inference.replay_model import (
    ERROR_OUTPUT,
    Replayed,
    count_tokens,
    make_infer_func,
    make_trtllm_infer_func,
    truncate_tokens,
)
from vigil.settings import DEFAULT_GSM8K, DEFAULT_REPLAY_FILES, VARIANTS

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
    return ReplayBook.load(p)  # its variants are s:175b_verification, ...


def cross(book: ReplayBook, variant: str = "175b_verification") -> Replayed:
    """The served variant, its samples other variants (cross-model agreement)."""
    return Replayed(book, variant, cross_model=True)


def test_lookup_ignores_whitespace_and_case(book: ReplayBook) -> None:
    v, sol = book.answer("  tom has 3 apples and   buys 2 more. HOW many?", "6b_finetuning")
    assert v == "s:6b_finetuning" and sol.startswith("sol 6b_finetuning")


def test_a_recorded_model_gives_every_seed_its_one_output(book: ReplayBook) -> None:
    # One recorded output per model and question: a seed can't make another one.
    texts = {book.answer(ROW["question"], "175b_verification", seed)[1] for seed in range(4)}
    assert texts == {"sol 175b_verification\nA: 0"}


def test_cross_model_seeds_map_to_distinct_recorded_variants(book: ReplayBook) -> None:
    q = ROW["question"]
    used = {book.answer(q, "175b_verification", seed, cross_model=True)[0] for seed in range(4)}
    assert used == {f"s:{v}" for v in VARIANTS}
    chosen = book.answer(q, "175b_verification", 0, cross_model=True)[0]
    assert chosen == "s:175b_verification"


def test_unknown_question_and_bad_files(book: ReplayBook, tmp_path: Path) -> None:
    with pytest.raises(UnknownQuestion):
        book.answer("What is love?", "175b_verification")
    with pytest.raises(ReplayDataError, match=r"unknown replay variant 'gpt-5'.*s:6b_finetuning"):
        book.answer(ROW["question"], "gpt-5")
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
    infer = make_infer_func(cross(book))
    q = ROW["question"].encode()
    echoed = list(infer([Req(text_input=q)]))
    assert echoed[0][0]["text_output"][0].decode().startswith(ROW["question"])
    plain = list(
        infer([Req(text_input=q, exclude_input_in_output=True, sampling_parameters=b'{"seed": 2}')])
    )
    # seed 2: the variant two after the served one in the file (cross-model samples)
    assert plain[0][0]["text_output"][0].decode().startswith("sol 6b_verification")
    with pytest.raises(InferenceError, match="exclude_input_in_output"):
        list(infer([Req(text_input=q, stream=True)]))
    with pytest.raises(UnknownQuestion):
        list(infer([Req(text_input=b"unknown")]))
    # Versions number the file's variants: another recorded model is another version.
    assert [book.variant(v).version for v in VARIANTS] == [1, 2, 3, 4]


def test_vllm_token_counts_are_per_response_and_sum_to_the_output(book: ReplayBook) -> None:
    infer = make_infer_func(cross(book))
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
    infer = make_trtllm_infer_func(cross(book))
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
    infer = make_trtllm_infer_func(cross(book))
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
    assert errors[1] == f"UnknownQuestion: {UNKNOWN}{UNKNOWN_HINT}"
    assert "decoupled" in errors[2] and "max_tokens is required" in errors[3]
    assert all(r[ERROR_OUTPUT].shape == r["text_output"].shape == (1, 1) for r in out)


def test_a_client_that_does_not_ask_for_the_error_output_gets_the_call_error(
    book: ReplayBook,
) -> None:
    # PyTriton drops outputs a request did not ask for: an answer-less success would be silent.
    infer = make_trtllm_infer_func(cross(book))
    q = ROW["question"].encode()
    answered = infer([one(q, reports=False)])
    assert set(answered[0]) == {"text_output"}
    with pytest.raises(UnknownQuestion):
        infer([one(q), one(b"What is love?", reports=False)])
    unnamed = one(b"What is love?")
    unnamed.requested_output_names = None  # PyTriton without its tensor store passes no names
    with pytest.raises(UnknownQuestion):
        infer([unnamed])


SHARED = (*DEFAULT_REPLAY_FILES, DEFAULT_GSM8K)


@pytest.mark.skipif(not all(p.exists() for p in SHARED), reason="shared data not present")
def test_the_shared_files_load_with_every_variant_discovered() -> None:
    book = ReplayBook.load(*SHARED)
    assert len(book) == 1055  # the other files' questions are among the GPT-3 file's
    by_file: dict[str, list[str]] = {}
    for v in book.variants.values():
        by_file.setdefault(v.file, []).append(v.name)
    assert set(by_file["gsm8k"]) == set(VARIANTS)
    assert "gpt-4o-mini_zs-cot" in by_file["re2_gsm8k"] and len(by_file["re2_gsm8k"]) == 6
    assert "gpt-4" in by_file["faithfulcot_gsm8k"] and len(by_file["faithfulcot_gsm8k"]) == 6
    # ProcessBench: the mixed variant, then one variant per generator that wrote its rows.
    assert by_file["processbench_gsm8k"][0] == "processbench"
    assert "Qwen2.5-7B-Instruct" in by_file["processbench_gsm8k"]
    assert len(book.questions("processbench")) == 155
    assert len(book.questions("re2_gsm8k:gpt-4o-mini_zs-cot")) == 1047
    # Free-form output is served as recorded: no `A:` line, the answer where the model put it.
    q = book.questions("gpt-4o-mini_zs-cot")[0]
    text = Replayed(book, "gpt-4o-mini_zs-cot").answer(q)
    assert text == book.recorded(q, "re2_gsm8k:gpt-4o-mini_zs-cot")[0]  # type: ignore[index]
    assert "\\boxed{" in text and "\nA:" not in text
    # A name-swapped question (a counterfactual probe) finds its recording in the new files too.
    swapped = "Maria " + q.split(" ", 1)[1] if q.split(" ", 1)[0] == "A" else None
    if swapped is not None:
        assert Replayed(book, "gpt-4o-mini_zs-cot").answer(swapped) == text


def test_several_files_name_their_variants_and_a_shared_name_must_be_qualified(
    tmp_path: Path,
) -> None:
    gpt3, modern = tmp_path / "gpt3" / "model_solutions.jsonl", tmp_path / "modern.jsonl"
    gpt3.parent.mkdir()
    gpt3.write_bytes(orjson.dumps(ROW) + b"\n")
    row = {
        "question": ROW["question"],
        "gpt-4o-mini": {"is_correct": True, "solution": "3 + 2 = 5.\nThe answer is $\\boxed{5}$."},
        "175b_verification": {"is_correct": False, "solution": "So Tom has 6 apples."},
    }
    modern.write_bytes(orjson.dumps(row) + b"\n")
    book = ReplayBook.load(gpt3, modern)
    assert book.variant("gpt-4o-mini").id == "modern:gpt-4o-mini"
    assert book.variant("modern:gpt-4o-mini").version == 1
    assert book.variant("gpt3:6b_finetuning").version == 4
    with pytest.raises(ReplayDataError, match="several files: say gpt3:175b_verification"):
        book.variant("175b_verification")
    assert book.answer(ROW["question"], "modern:175b_verification")[1] == "So Tom has 6 apples."
    # Cross-model samples stay within the served variant's file.
    q = ROW["question"]
    used = {book.answer(q, "gpt-4o-mini", s, cross_model=True)[0] for s in range(5)}
    assert used == {"modern:gpt-4o-mini", "modern:175b_verification"}
    with pytest.raises(ReplayDataError, match="same name"):
        ReplayBook.load(gpt3, gpt3)


def test_a_variant_mixing_generators_also_yields_one_variant_per_generator(
    tmp_path: Path,
) -> None:
    def row(question: str, generator: str, text: str) -> bytes:
        entry = {"is_correct": True, "solution": text, "generator": generator}
        return orjson.dumps({"question": question, "processbench": entry}) + b"\n"

    p = tmp_path / "pb" / "model_solutions.jsonl"
    p.parent.mkdir()
    p.write_bytes(
        row(ROW["question"], "Llama-8B", "llama on tom")
        + row(ROW["question"], "Qwen-7B", "qwen on tom")
        + row("Ann has 7 pears. How many?", "Qwen-7B", "qwen on ann")
    )
    book = ReplayBook.load(p)
    assert [v.name for v in book.variants.values()] == ["processbench", "Llama-8B", "Qwen-7B"]
    assert book.answer(ROW["question"], "processbench")[1] == "llama on tom"  # the first
    assert book.answer(ROW["question"], "Qwen-7B")[1] == "qwen on tom"
    assert book.questions("Llama-8B") == [ROW["question"]]
    with pytest.raises(UnknownQuestion, match="pb:Llama-8B"):
        book.answer("Ann has 7 pears. How many?", "Llama-8B")
    # Cross-model samples of one generator are the other generators' recordings.
    cross_ids = {book.answer(ROW["question"], "Qwen-7B", s, cross_model=True)[0] for s in (0, 1)}
    assert cross_ids == {"pb:Qwen-7B", "pb:Llama-8B"}


def test_free_form_output_is_truncated_and_streamed_as_recorded(tmp_path: Path) -> None:
    solution = (
        "To find the total, add the apples.\n"
        "\\[ 3 + 2 = 5 \\]\n"
        "**Answer:** Tom has $\\boxed{5}$ apples."
    )
    p = tmp_path / "m.jsonl"
    row = {"question": ROW["question"], "m1": {"is_correct": True, "solution": solution}}
    p.write_bytes(orjson.dumps(row) + b"\n")
    book = ReplayBook.load(p)
    infer = make_infer_func(Replayed(book, "m1"))
    q = ROW["question"].encode()
    streamed = list(infer([Req(text_input=q, stream=True, exclude_input_in_output=True)]))
    assert "".join(r[0]["text_output"][0].decode() for r in streamed) == solution
    cut = list(
        infer(
            [
                Req(
                    text_input=q,
                    exclude_input_in_output=True,
                    sampling_parameters=b'{"max_tokens": 12, "seed": 3}',
                )
            ]
        )
    )
    assert cut[0][0]["text_output"][0].decode() == "To find the total, add the apples.\n\\[ 3"
    trt = make_trtllm_infer_func(Replayed(book, "m1"))
    out = trt([one(q, exclude_input_in_output=np.array([[True]]))])
    assert out[0]["text_output"][0, 0].decode() == solution


def test_counterfactual_prompts_are_answered_like_their_question(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    other = {**ROW, "question": "Ann has 3 pears and buys 2 more. How many?"}
    p.write_bytes(orjson.dumps(ROW) + b"\n" + orjson.dumps(other) + b"\n")
    book = ReplayBook.load(p)
    swapped = "Maria has 3 apples and buys 2 more. How many?"
    assert book.answer(swapped, "175b_verification")[0] == "s:175b_verification"
    biased = Replayed(book, "175b_verification", counterfactual="6b_finetuning")
    assert biased.answer(swapped) == "sol 6b_finetuning\nA: 3"
    # The recorded question itself is still served as configured.
    assert biased.answer(ROW["question"]) == "sol 175b_verification\nA: 0"
    with pytest.raises(UnknownQuestion):  # other numbers: another question
        book.answer("Tom has 4 apples and buys 2 more. How many?", "175b_verification")
    with pytest.raises(UnknownQuestion):  # too many words changed
        book.answer("Maria owns 3 plums and sells 2 more. How much?", "175b_verification")
