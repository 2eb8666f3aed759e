"""The verifier models on the real tritonserver: a real generative model (SmolLM2-135M-Instruct
in llama.cpp, from the ``verifier`` extra) judging real ProcessBench solutions, called as the
verifier check calls it: TritonClient with the ``trtllm-pytriton`` adapter."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from tests.conftest import GPT3_REPLAY, isolated_settings
from vigil.inference.adapters import GenerationParams, load_adapter
from vigil.inference.client import ModelRoute, TritonClient
from vigil.inference.exceptions import ModelCallError
from vigil.inference.server import triton_process
from vigil.settings import EXTERNAL_DATA, VigilSettings
from vigil.stack import VIGIL
from vigil.streams.checks.solution import parse_solution
from vigil.streams.exceptions import CritiqueParseError
from vigil.streams.verification.critique import (
    DEFAULT_TEMPLATE,
    Critique,
    parse_critique,
    parse_step_scores,
    prm_input,
    render_prompt,
)
from vigil.supervisor import Supervisor

pytestmark = [pytest.mark.triton]

# Judgements take seconds each on two shared cores; a generous bound, measured below.
CALL_TIMEOUT_S = 120.0


def _rows(n: int) -> list[tuple[str, list[str], int | None]]:
    """The n shortest ProcessBench solutions, wrong and right alternately (cheap prompts)."""
    path = EXTERNAL_DATA / "processbench_gsm8k" / "model_solutions.jsonl"
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    rows.sort(key=lambda r: len(r["processbench"]["solution"]))
    wrong = [r for r in rows if r["processbench"]["first_wrong_step"] is not None]
    right = [r for r in rows if r["processbench"]["first_wrong_step"] is None]
    picked = [r for pair in zip(wrong, right, strict=False) for r in pair][:n]
    return [
        (
            r["question"],
            [s.text for s in parse_solution(r["processbench"]["solution"]).steps],
            r["processbench"]["first_wrong_step"],
        )
        for r in picked
    ]


@pytest.fixture(scope="module")
def verifier_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilSettings]:
    settings = isolated_settings(
        tmp_path_factory.mktemp("vigil-verifier"), verifier_serve="on", **GPT3_REPLAY
    )
    t0 = time.monotonic()
    with Supervisor(settings.logs_dir) as sup:
        sup.start(triton_process(settings, VIGIL))
        print(f"\ntriton with the verifier ready in {time.monotonic() - t0:.1f}s")
        yield settings


async def _call(settings: VigilSettings, model: str, text: str, max_tokens: int) -> str:
    client = TritonClient(settings.triton_grpc_url, timeout_s=CALL_TIMEOUT_S)
    try:
        route = ModelRoute(model, load_adapter("trtllm-pytriton"))
        t0 = time.perf_counter()
        got = await client.generate(route, text, GenerationParams(max_tokens=max_tokens), "v-1")
        print(f"{model}: {time.perf_counter() - t0:.2f}s -> {got.text[:160]!r}")
        assert got.adapter == "trtllm-pytriton" and got.model_name == model
        return got.text
    finally:
        await client.close()


async def test_the_critic_answers_in_a_shape_the_parser_reads_or_rejects(
    verifier_settings: VigilSettings,
) -> None:
    s = verifier_settings
    for question, steps, _label in _rows(2):
        prompt = render_prompt(DEFAULT_TEMPLATE.read_text(), question, steps)
        text = await _call(s, s.verifier.model_name, prompt, max_tokens=s.verifier.max_tokens)
        assert text.strip()
        try:
            critique = parse_critique(text, len(steps))
        except CritiqueParseError as exc:
            # A 135M model's index is often past the steps: rejected with a reason, no crash.
            assert str(exc)
        else:
            assert isinstance(critique, Critique)
            assert critique.first_wrong_step is None or 0 <= critique.first_wrong_step < len(steps)


async def test_the_prm_scores_every_step_from_the_models_yes_no_probabilities(
    verifier_settings: VigilSettings,
) -> None:
    s = verifier_settings
    for question, steps, _label in _rows(2):
        text = await _call(s, s.verifier.prm_model_name, prm_input(question, steps), max_tokens=1)
        critique = parse_step_scores(text, len(steps), threshold=0.5)
        assert len(critique.step_scores) == len(steps)
        assert all(0.0 < p < 1.0 for p in critique.step_scores)
        # A real score from the model, not a constant.
        assert len(set(critique.step_scores)) > 1 or len(steps) == 1
        # Greedy and deterministic: the same input, the same scores.
        again = await _call(s, s.verifier.prm_model_name, prm_input(question, steps), 1)
        assert again == text


async def test_a_bad_prm_input_fails_that_request_alone_with_its_reason(
    verifier_settings: VigilSettings,
) -> None:
    s = verifier_settings
    with pytest.raises(ModelCallError, match="not JSON") as err:
        await _call(s, s.verifier.prm_model_name, "not json at all", max_tokens=1)
    assert err.value.kind == "model"
    # The server goes on answering.
    question, steps, _ = _rows(1)[0]
    text = await _call(s, s.verifier.prm_model_name, prm_input(question, steps[:1]), 1)
    assert len(text.splitlines()) == 1
