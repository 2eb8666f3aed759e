"""The gateway's pure logic with a scripted reasoner (the real Triton path is integration)."""

from __future__ import annotations

import orjson
import pytest

from inference.client import Generation
from inference.exceptions import ModelCallError
from inference.gateway import Gateway, RetryPolicy
from vigil.contracts import InferenceRequest


class Scripted:
    def __init__(self, errors: list[ModelCallError] | None = None) -> None:
        self.errors = list(errors or [])
        self.calls: list[dict[str, object]] = []

    async def generate(
        self, prompt: str, sampling: dict[str, object], request_id: str
    ) -> Generation:
        self.calls.append(dict(sampling))
        if self.errors:
            raise self.errors.pop(0)
        return Generation(f"answer seed={sampling['seed']}\nA: 4", "m", "1", 1.5)


def gw(reasoner: Scripted) -> Gateway:
    return Gateway(
        reasoner,
        source_topic="llm.requests",
        max_prompt_chars=100,
        retry=RetryPolicy(attempts=3, base_s=0.0, cap_s=0.0),
    )


async def test_result_carries_metadata_and_k_samples_with_distinct_seeds() -> None:
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
    assert res.output.startswith("answer seed=0")
    assert [s.split()[1] for s in res.samples] == ["seed=1", "seed=2"]
    assert sorted(c["seed"] for c in r.calls) == [0, 1, 2]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{nope", "malformed_json"),
        (b'{"prompt": ""}', "invalid_schema"),
        (b'{"prompt": "q", "samples": 99}', "invalid_schema"),
        (orjson.dumps({"prompt": "x" * 101}), "oversize"),
    ],
)
async def test_bad_requests_become_dead_letters(raw: bytes, reason: str) -> None:
    handled = await gw(Scripted()).handle(raw)
    assert handled.result is None and handled.dead_letter is not None
    assert handled.dead_letter.reason == reason
    assert handled.dead_letter.payload == raw.decode()


async def test_transport_errors_are_retried_then_dead_lettered() -> None:
    unavailable = ModelCallError("down", retryable=True)
    ok_after_two = Scripted([unavailable, unavailable])
    assert (await gw(ok_after_two).handle(InferenceRequest(prompt="q").to_json())).result
    never = Scripted([unavailable] * 5)
    handled = await gw(never).handle(InferenceRequest(prompt="q").to_json())
    assert handled.dead_letter is not None and handled.dead_letter.reason == "model_unavailable"
    assert handled.dead_letter.attempts == 3 and len(never.calls) == 3


async def test_model_errors_are_not_retried() -> None:
    r = Scripted([ModelCallError("no recorded answer", retryable=False)])
    handled = await gw(r).handle(InferenceRequest(prompt="q", request_id="abc").to_json())
    assert handled.dead_letter is not None
    assert (handled.dead_letter.reason, handled.dead_letter.request_id) == ("model_error", "abc")
    assert len(r.calls) == 1
