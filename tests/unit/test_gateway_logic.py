"""The gateway's pure logic with a scripted reasoner (the real Triton path is integration)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from vigil.inference.adapters import GenerationParams, TrtLlmAdapter, VllmAdapter
from vigil.inference.breaker import BreakerState, CircuitBreaker
from vigil.inference.client import Generation, ModelRoute
from vigil.inference.exceptions import ModelCallError
from vigil.inference.gateway import Gateway, RetryPolicy, Routes
from vigil.inference.sample_budget import SampleBudget
from vigil.settings import SampleRule
from vigil_client.contracts import InferenceRequest

VLLM = ModelRoute("m", VllmAdapter())
TRT = ModelRoute("m-trt", TrtLlmAdapter())


class Scripted:
    """Answers or fails in a scripted order; records every call."""

    def __init__(
        self,
        errors: list[ModelCallError | None] | None = None,
        *,
        fail_seeds: set[int] = frozenset(),
    ) -> None:
        self.errors = list(errors or [])
        self.fail_seeds = set(fail_seeds)
        self.calls: list[tuple[str, GenerationParams]] = []

    async def generate(
        self, route: ModelRoute, prompt: str, params: GenerationParams, request_id: str
    ) -> Generation:
        self.calls.append((route.model_name, params))
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        if params.seed in self.fail_seeds:
            raise ModelCallError("no answer for this seed", kind="model")
        return Generation(
            f"answer seed={params.seed}\nA: 4",
            route.model_name,
            "3",
            1.5 + params.seed,
            adapter=route.adapter.name,
            output_tokens=7 if route.adapter.name == "vllm" else None,
            input_tokens=3 if route.adapter.name == "vllm" else None,
        )


def gw(reasoner: Scripted, **kwargs: object) -> Gateway:
    opts: dict[str, object] = {
        "source_topic": "llm.requests",
        "max_prompt_chars": 100,
        "retry": RetryPolicy(attempts=3, base_s=0.0, cap_s=0.0),
        **kwargs,
    }
    return Gateway(reasoner, Routes(VLLM, {"m-trt": TRT}), **opts)  # type: ignore[arg-type]


UNAVAILABLE = ModelCallError("down", kind="unavailable")


async def test_result_carries_metadata_tokens_contract_and_k_samples_with_distinct_seeds() -> None:
    r = Scripted()
    req = InferenceRequest(
        prompt="2+2?", samples=3, product="p", tenant="t", metadata={"plan": "pro"}
    )
    handled = await gw(r).handle(req.to_json())
    assert handled.result is not None and handled.dead_letter is None
    res = handled.result
    assert (res.request_id, res.product, res.tenant, res.metadata) == (
        req.request_id,
        "p",
        "t",
        {"plan": "pro"},
    )
    assert (res.model_name, res.model_version, res.adapter) == ("m", "3", "vllm")
    assert res.output.startswith("answer seed=0")
    assert [s.split()[1] for s in res.samples] == ["seed=1", "seed=2"]
    assert sorted(p.seed for _, p in r.calls) == [0, 1, 2]
    assert (res.output_tokens, res.input_tokens, res.total_output_tokens) == (7, 3, 21)
    assert (res.samples_requested, res.samples_degraded) == (3, None)
    assert res.latency_ms == 3.5  # the slowest of the k generations


async def test_requests_are_routed_by_model_and_contracts_without_counts_report_none() -> None:
    r = Scripted()
    handled = await gw(r).handle(InferenceRequest(prompt="q", model="m-trt").to_json())
    assert handled.result is not None
    assert (handled.result.model_name, handled.result.adapter) == ("m-trt", "trtllm")
    assert handled.result.output_tokens is None and handled.result.total_output_tokens is None
    # The contract's default model name means the gateway's default model.
    handled = await gw(r).handle(InferenceRequest(prompt="q").to_json())
    assert handled.result is not None and handled.result.model_name == "m"
    handled = await gw(r).handle(InferenceRequest(prompt="q", model="gpt-9").to_json())
    assert handled.dead_letter is not None and handled.dead_letter.reason == "unknown_model"
    assert "m-trt" in (handled.dead_letter.error or "")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{nope", "malformed_json"),
        (b'{"prompt": ""}', "invalid_schema"),
        (b'{"request_id": "x"}', "invalid_schema"),
        (b'{"prompt": "q", "samples": 99}', "invalid_schema"),
        (orjson.dumps({"prompt": "x" * 101}), "oversize"),
        (b"x" * 1_000_001, "oversize"),
    ],
)
async def test_bad_requests_become_dead_letters(raw: bytes, reason: str) -> None:
    handled = await gw(Scripted()).handle(raw)
    assert handled.result is None and handled.dead_letter is not None
    assert handled.dead_letter.reason == reason
    assert handled.dead_letter.payload == raw[:65536].decode()


async def test_transport_errors_are_retried_then_dead_lettered() -> None:
    ok_after_two = Scripted([UNAVAILABLE, UNAVAILABLE])
    assert (await gw(ok_after_two).handle(InferenceRequest(prompt="q").to_json())).result
    never = Scripted([UNAVAILABLE] * 5)
    handled = await gw(never).handle(InferenceRequest(prompt="q").to_json())
    assert handled.dead_letter is not None and handled.dead_letter.reason == "model_unavailable"
    assert handled.dead_letter.attempts == 3 and len(never.calls) == 3


async def test_a_model_not_loaded_is_retried_without_opening_the_circuit() -> None:
    not_ready = ModelCallError("Request for unknown model: 'm' is not found", kind="not_ready")
    r = Scripted([not_ready] * 5)
    g = gw(r, breaker=CircuitBreaker(failure_threshold=2))
    handled = await g.handle(InferenceRequest(prompt="q").to_json())
    assert handled.dead_letter is not None and handled.dead_letter.reason == "model_unavailable"
    assert len(r.calls) == 3 and g.breaker.state is BreakerState.CLOSED


async def test_a_deadline_is_never_retried() -> None:
    r = Scripted([ModelCallError("Deadline Exceeded", kind="timeout")])
    handled = await gw(r).handle(InferenceRequest(prompt="q", request_id="slow").to_json())
    assert handled.dead_letter is not None
    assert (handled.dead_letter.reason, handled.dead_letter.attempts) == ("model_timeout", 1)
    assert len(r.calls) == 1


async def test_model_errors_are_not_retried() -> None:
    r = Scripted([ModelCallError("no recorded answer", kind="model")])
    handled = await gw(r).handle(InferenceRequest(prompt="q", request_id="abc").to_json())
    assert handled.dead_letter is not None
    assert (handled.dead_letter.reason, handled.dead_letter.request_id) == ("model_error", "abc")
    assert len(r.calls) == 1


async def test_an_unexpected_bug_is_dead_lettered_not_raised() -> None:
    class Broken(Scripted):
        async def generate(self, *args: object, **kwargs: object) -> Generation:
            raise KeyError("oops")

    handled = await gw(Broken()).handle(InferenceRequest(prompt="q").to_json())
    assert handled.dead_letter is not None and handled.dead_letter.reason == "gateway_error"
    assert "KeyError" in (handled.dead_letter.error or "")


async def test_open_breaker_holds_calls_back_until_a_trial_succeeds() -> None:
    breaker = CircuitBreaker(failure_threshold=2, open_s=0.2)
    r = Scripted([UNAVAILABLE, UNAVAILABLE])
    g = gw(r, breaker=breaker, retry=RetryPolicy(attempts=5, base_s=0.0, cap_s=0.0))
    handled = await g.handle(InferenceRequest(prompt="q").to_json())
    # Two failures opened it; the third call waited for half-open, went out and closed it.
    assert handled.result is not None
    assert breaker.times_opened == 1 and breaker.state is BreakerState.CLOSED
    assert len(r.calls) == 3


async def test_failed_trial_calls_do_not_spend_the_requests_retry_budget() -> None:
    breaker = CircuitBreaker(failure_threshold=1, open_s=0.05, max_open_s=0.05)
    r = Scripted([UNAVAILABLE] * 6)  # a 6-call outage, retry budget 3
    g = gw(r, breaker=breaker)
    handled = await g.handle(InferenceRequest(prompt="q").to_json())
    # The first call opened it; the next five were half-open trials; the seventh succeeded.
    assert handled.result is not None
    assert len(r.calls) == 7 and breaker.times_opened == 6


async def test_a_request_waits_at_most_max_wait_while_the_circuit_is_open() -> None:
    breaker = CircuitBreaker(failure_threshold=1, open_s=60.0)
    breaker.record_failure()
    r = Scripted()
    g = gw(r, breaker=breaker, max_wait_s=0.2)
    handled = await g.handle(InferenceRequest(prompt="q").to_json())
    assert handled.dead_letter is not None and handled.dead_letter.reason == "model_unavailable"
    assert "circuit open" in (handled.dead_letter.error or "")
    assert r.calls == []  # nothing hammered the dead server


async def test_many_waiting_requests_send_one_trial_call_not_a_stampede() -> None:
    breaker = CircuitBreaker(failure_threshold=1, open_s=0.1)
    breaker.record_failure()
    in_trial = asyncio.Event()
    release = asyncio.Event()
    concurrent: list[int] = []

    class Slow(Scripted):
        active = 0

        async def generate(self, *args: object, **kwargs: object) -> Generation:
            Slow.active += 1
            concurrent.append(Slow.active)
            in_trial.set()
            await release.wait()
            Slow.active -= 1
            return await super().generate(*args, **kwargs)  # type: ignore[arg-type]

    g = gw(Slow(), breaker=breaker)
    tasks = [
        asyncio.create_task(g.handle(InferenceRequest(prompt="q").to_json())) for _ in range(8)
    ]
    await asyncio.wait_for(in_trial.wait(), 2)
    await asyncio.sleep(0.2)
    assert max(concurrent) == 1  # half-open: a single trial call while it is unsettled
    release.set()
    results = await asyncio.gather(*tasks)
    assert all(h.result is not None for h in results)


async def test_over_the_rate_extras_wait_and_the_share_cuts_by_request_id() -> None:
    g = gw(Scripted(), budget=SampleBudget(per_s=7.0, share=1.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    # 7 extras/s, bucket of one second: the second request's 2 extras wait ~2/7 s.
    first = await g.handle(InferenceRequest(prompt="q", samples=8).to_json())
    second = await g.handle(InferenceRequest(prompt="q", samples=3).to_json())
    assert loop.time() - started >= 0.25
    for handled, k in ((first, 8), (second, 3)):
        assert handled.result is not None and len(handled.result.samples) == k - 1
        assert handled.result.samples_degraded is None
    none = gw(Scripted(), budget=SampleBudget(per_s=7.0, share=0.0))
    cut = await none.handle(InferenceRequest(prompt="q", samples=3).to_json())
    assert cut.result is not None and cut.result.samples == []
    assert (cut.result.samples_requested, cut.result.samples_degraded) == (3, "sample_budget")


async def test_a_failed_extra_sample_degrades_the_result_not_the_request() -> None:
    handled = await gw(Scripted(fail_seeds={1})).handle(
        InferenceRequest(prompt="q", samples=3).to_json()
    )
    assert handled.result is not None
    assert [s.split()[1] for s in handled.result.samples] == ["seed=2"]
    assert handled.result.samples_degraded == "sample_failed"


async def test_a_routing_rule_asks_for_samples() -> None:
    rules = [SampleRule(match={"product": "tutor", "metadata.plan": "pro"}, samples=4)]
    g = gw(Scripted(), budget=SampleBudget(per_s=100, share=1.0, rules=rules))
    hit = await g.handle(
        InferenceRequest(prompt="q", product="tutor", metadata={"plan": "pro"}).to_json()
    )
    miss = await g.handle(
        InferenceRequest(prompt="q", product="tutor", metadata={"plan": "free"}).to_json()
    )
    assert hit.result is not None and len(hit.result.samples) == 3
    assert hit.result.samples_requested == 4
    assert miss.result is not None and miss.result.samples == []
