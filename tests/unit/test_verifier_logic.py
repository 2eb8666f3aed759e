"""The verifier's pure logic: which results go to it, its budget, its circuit, its failures
recorded as "not verified: <reason>", and its judgement joining the cheap checks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from vigil.inference.adapters import GenerationParams
from vigil.inference.client import Generation, ModelRoute
from vigil.inference.exceptions import ModelCallError
from vigil.settings import load_settings
from vigil.streams.checks.config import VerifierSection
from vigil.streams.triage import Screener
from vigil.streams.verification.budget import TokenBucket
from vigil.streams.verification.judge import Judge
from vigil.streams.verification.opinion import not_verified, verifier_check
from vigil.streams.verification.selection import wants_verification
from vigil_client.contracts import InferenceResult, Judgement

OUTPUT = "Tom starts with 3 apples.\nHe buys 4 more, so 3 + 4 = 7.\nThe answer is \\boxed{7}."


def _result(rid: str = "r1", **kw: Any) -> InferenceResult:
    now = datetime.now(UTC)
    base: dict[str, Any] = dict(
        request_id=rid,
        created_at=now,
        request_created_at=now,
        prompt="Tom has 3 apples and buys 4 more. How many apples does he have now?",
        output=OUTPUT,
        model_name="m",
        model_version="1",
        latency_ms=1.0,
    )
    base.update(kw)
    return InferenceResult(**base)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_selection_by_band_product_share_and_hold() -> None:
    on = VerifierSection(enabled=True, min_risk=0.2, max_risk=0.8, products=["tutor"])
    assert not wants_verification(VerifierSection(), _result(product="tutor"), 0.5)
    assert wants_verification(on, _result(product="tutor"), 0.5)
    assert not wants_verification(on, _result(product="other"), 0.5)
    assert not wants_verification(on, _result(product="tutor"), 0.1)
    assert not wants_verification(on, _result(product="tutor"), 0.9)
    # A held request is verified whatever its risk.
    assert wants_verification(on, _result(product="tutor", hold_for_review=True), 0.0)
    half = VerifierSection(enabled=True, share=0.5)
    chosen = [wants_verification(half, _result(f"id{i}"), 0.5) for i in range(2000)]
    assert 0.45 < sum(chosen) / len(chosen) < 0.55
    # Deterministic per id: a re-delivered result is sent, or not, as the first time.
    assert chosen == [wants_verification(half, _result(f"id{i}"), 0.5) for i in range(2000)]


def test_token_bucket_bounds_judgements_per_second() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, clock=clock)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.t += 0.5
    assert bucket.take() and not bucket.take()
    clock.t += 100
    assert sum(bucket.take() for _ in range(10)) == 2  # the burst stays bounded


def test_opinion_marks_the_step_and_says_it_is_a_models() -> None:
    j = Judgement(
        request_id="r1",
        status="verified",
        verifier="v",
        mode="critic",
        first_wrong_step=1,
        reason="wrong sum",
        score=0.8,
    )
    c = verifier_check(j)
    assert c.flagged and c.first_faulty_step == 1 and c.score == 0.8
    assert c.evidence[0].step_index == 1 and "model's opinion" in c.evidence[0].message
    ok = verifier_check(j.model_copy(update={"first_wrong_step": None, "score": 0.1}))
    assert not ok.flagged and ok.first_faulty_step is None
    nv = verifier_check(not_verified("r1", VerifierSection(), "timeout"))
    assert not nv.flagged and nv.score == 0.0
    assert nv.evidence[0].message == "not verified: timeout"


class FakeTriton:
    """The Triton client's seam: answers, raises or hangs as told."""

    def __init__(self) -> None:
        self.answer: str | Exception | None = "The error is in paragraph 1. \\boxed{1}"
        self.calls = 0
        self.prompts: list[str] = []

    async def generate(
        self, route: ModelRoute, prompt: str, params: GenerationParams, request_id: str
    ) -> Generation:
        self.calls += 1
        self.prompts.append(prompt)
        if self.answer is None:
            await asyncio.sleep(10)
        if isinstance(self.answer, Exception):
            raise self.answer
        return Generation(
            text=str(self.answer), model_name=route.model_name, model_version="1", latency_ms=1
        )


def _judge(**kw: Any) -> tuple[Judge, FakeTriton, Clock]:
    config = VerifierSection(enabled=True, timeout_s=0.2, breaker_failures=2, **kw)
    fake, clock = FakeTriton(), Clock()
    return Judge(config, fake, clock=clock), fake, clock  # type: ignore[arg-type]


def test_judge_reads_the_models_step() -> None:
    judge, fake, _ = _judge()
    j = asyncio.run(judge.judge(_result()))
    assert j.status == "verified" and j.first_wrong_step == 1
    assert "Tom starts with 3 apples." in fake.prompts[0]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (None, "timeout"),
        (ModelCallError("down", kind="unavailable"), "model error (unavailable)"),
        ("I cannot help with that.", "unparseable answer"),
        ("\\boxed{7}", "unparseable answer"),  # step 7 of 3
    ],
)
def test_judge_failures_are_recorded_never_raised(answer: Any, why: str) -> None:
    judge, fake, _ = _judge()
    fake.answer = answer
    j = asyncio.run(judge.judge(_result()))
    assert j.status == "not_verified" and j.not_verified is not None
    assert j.not_verified.startswith(why), j.not_verified


def test_judge_circuit_opens_after_failures_and_budget_bounds_calls() -> None:
    judge, fake, clock = _judge(max_per_s=100.0)
    fake.answer = ModelCallError("down", kind="unavailable")
    for _ in range(2):
        asyncio.run(judge.judge(_result()))
    j = asyncio.run(judge.judge(_result()))
    assert j.not_verified is not None and j.not_verified.startswith("circuit open")
    assert fake.calls == 2
    clock.t += 60  # half-open: one trial, which succeeds and closes it
    fake.answer = "\\boxed{-1}"
    assert asyncio.run(judge.judge(_result())).status == "verified"
    slow, fake2, _ = _judge(max_per_s=1.0)
    outs = [asyncio.run(slow.judge(_result())) for _ in range(3)]
    assert [o.status for o in outs] == ["verified", "not_verified", "not_verified"]
    assert outs[1].not_verified is not None and outs[1].not_verified.startswith("over budget")
    assert fake2.calls == 1


def test_no_steps_is_not_verified_without_a_call() -> None:
    judge, fake, _ = _judge()
    j = asyncio.run(judge.judge(_result(output="   ")))
    assert j.not_verified == "no steps to verify" and fake.calls == 0


def test_a_rejected_clean_result_is_queued_with_the_verifiers_step() -> None:
    settings = load_settings()
    screener = Screener.from_files(settings.checks_config, settings.novelty_reference)
    result = _result()
    cheap = screener.screen(result)
    assert cheap.outcome.verdict == "clean"
    j = Judgement(
        request_id=result.request_id,
        status="verified",
        verifier="v",
        mode="critic",
        first_wrong_step=1,
        reason="misread",
        score=0.9,
    )
    joined = screener.finish(result, [*cheap.outcome.checks, verifier_check(j)])
    assert joined.outcome.verdict == "queued" and joined.outcome.route == "reasoning"
    assert joined.outcome.risk_score > cheap.outcome.risk_score
    assert joined.item is not None and joined.item.first_faulty_step == 1
    agreed = screener.finish(
        result, [*cheap.outcome.checks, verifier_check(not_verified("r1", VerifierSection(), "x"))]
    )
    assert agreed.outcome.verdict == "clean"
    assert agreed.outcome.risk_score == pytest.approx(cheap.outcome.risk_score)
